/**
 * Names shared with the server, defined once.  They mirror
 * `ctask_ls/server/protocol.py` (SPEC section 4): change both together.
 */

/** `workspace/executeCommand` commands the server implements. */
export const ServerCommand = {
  new: 'ctask.new',
  resume: 'ctask.resume',
  last: 'ctask.last',
  open: 'ctask.open',
  attach: 'ctask.attach',
  list: 'ctask.list',
  status: 'ctask.status',
  stop: 'ctask.stop',
  diff: 'ctask.diff',
  log: 'ctask.log',
  remove: 'ctask.remove',
} as const;
export type ServerCommandId = (typeof ServerCommand)[keyof typeof ServerCommand];

/** Server → client notifications. */
export const Notification = {
  leaseState: 'ctask/leaseState',
  diff: 'ctask/diff',
  sessionEnded: 'ctask/sessionEnded',
} as const;

/** Lease states of `inspect_lease` (SPEC 3.2). */
export const LeaseState = {
  missing: 'missing',
  stale: 'stale',
  freshLocal: 'fresh_local',
  freshRemote: 'fresh_remote',
} as const;
export type LeaseStateName = (typeof LeaseState)[keyof typeof LeaseState];

/** `data.kind` of the server's JSON-RPC errors. */
export const ErrorKind = {
  invalidName: 'InvalidName',
  taskNotFound: 'TaskNotFound',
  taskExists: 'TaskExists',
  taskBusy: 'TaskBusy',
  agentNotFound: 'AgentNotFound',
  tmuxNotFound: 'TmuxNotFound',
  noSession: 'NoSession',
  corruptMetadata: 'CorruptMetadata',
  adoptionDeclined: 'AdoptionDeclined',
  gitNotFound: 'GitNotFound',
  gitError: 'GitError',
} as const;

/** `data.reason` of a `GitError`. */
export const GitReason = {
  notARepository: 'not_a_repository',
  branchExists: 'branch_exists',
  badBranch: 'bad_branch',
  badRef: 'bad_ref',
  worktreeTaken: 'worktree_taken',
  dirty: 'dirty',
  unmerged: 'unmerged',
  repoMissing: 'repo_missing',
  failed: 'failed',
} as const;

/** The branch `ctask.new` creates when none is given. */
export function defaultBranch(name: string): string {
  return `ctask/${name}`;
}

/** Actions of the `window/showMessageRequest` that asks before adopting a fresh_remote session. */
export const AdoptAction = 'Adopt';
export const CancelAction = 'Cancel';

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
} as const;

/** Setting keys (package.json `contributes.configuration`), relative to SECTION. */
export const SECTION = 'ctask';
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
} as const;

/** Task names (SPEC section 2): 1–64 of [A-Za-z0-9._-], starting with a letter or digit. */
export const TASK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const STATUS_ITEM_ID = 'ctask.status';
export const CLIENT_ID = 'ctask';
export const CLIENT_NAME = 'ctask';
