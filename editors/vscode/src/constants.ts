/**
 * The extension's constants.  The names shared with the server (commands,
 * notifications, lease states, error kinds, git reasons, settings) are
 * generated from `ctask_ls/protocol` into `./generated/protocol.ts`
 * (`python -m ctask_ls.protocol --write`) and re-exported here; the rest
 * belongs to the extension alone.
 */
import { DEFAULT_BRANCH_PREFIX } from './generated/protocol';

export {
  ActivityState,
  type ActivityStateName,
  AdoptAction,
  CancelAction,
  ErrorKind,
  type ErrorKindName,
  FORCIBLE_GIT_REASONS,
  GitReason,
  LeaseState,
  type LeaseStateName,
  Notification,
  SECTION,
  ServerCommand,
  type ServerCommandId,
  ServerSetting,
  TASK_NAME_RE,
} from './generated/protocol';

/** The branch `ctask.new` creates when none is given. */
export function defaultBranch(name: string): string {
  return `${DEFAULT_BRANCH_PREFIX}${name}`;
}

/**
 * The extension's own command ids (package.json `contributes.commands`).
 * They differ from the server's: vscode-languageclient registers every
 * command the server advertises under its own name.
 */
export const Command = {
  newTask: 'ctask.newTask',
  newTaskFromRepository: 'ctask.newTaskFromRepository',
  resumeTask: 'ctask.resumeTask',
  resumeLast: 'ctask.resumeLast',
  openTaskFolder: 'ctask.openTaskFolder',
  attach: 'ctask.attachTask',
  stop: 'ctask.stopTask',
  showChanges: 'ctask.showChanges',
  showLog: 'ctask.showLog',
  listTasks: 'ctask.listTasks',
  removeTask: 'ctask.removeTask',
  restartServer: 'ctask.restartServer',
  statusActions: 'ctask.statusActions',
  revertFile: 'ctask.revertFile',
  /** A changed file of the task view: its diff against the checkpoint (not in the palette). */
  openChange: 'ctask.openChange',
} as const;

/** Context keys of package.json's `when` clauses, set by src/wiring.ts. */
export const Context = {
  /** The server's state: `idle` (not started in this window), `starting`, `running`, `stopped` or `failed`. */
  server: 'ctask.server',
  /** The server knows of at least one task. */
  hasTasks: 'ctask.hasTasks',
  /** At least one task has a running session. */
  anyRunning: 'ctask.anyRunning',
} as const;

/** Setting keys (package.json `contributes.configuration`), relative to SECTION. */
export const Setting = {
  serverCommand: 'server.command',
  serverArgs: 'server.args',
  home: 'home',
  agentCommand: 'agent.command',
  agentArgs: 'agent.args',
  autoAdopt: 'autoAdopt',
  heartbeatInterval: 'heartbeatInterval',
  staleAfter: 'staleAfter',
  pollInterval: 'pollInterval',
  lockTimeout: 'lockTimeout',
  idleAfter: 'idleAfter',
  notifications: 'notifications',
  hosts: 'hosts',
} as const;

export const STATUS_ITEM_ID = 'ctask.status';
export const CLIENT_ID = 'ctask';
export const CLIENT_NAME = 'ctask';
