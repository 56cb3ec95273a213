/**
 * Reading the extension's settings.  Plain TypeScript over a small
 * configuration interface (vscode's WorkspaceConfiguration satisfies it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Setting } from './constants';
import { PROTOCOL_VERSION } from './generated/protocol';
import type { ServerSettings, TerminalSpec } from './protocol';

export interface ConfigLike {
  get<T>(key: string): T | undefined;
  inspect<T>(key: string):
    | { defaultValue?: T; globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T }
    | undefined;
}

/** The value the user set (folder, then workspace, then user settings); undefined when left at its default. */
export function explicitValue<T>(config: ConfigLike, key: string): T | undefined {
  const info = config.inspect<T>(key);
  return info?.workspaceFolderValue ?? info?.workspaceValue ?? info?.globalValue;
}

export interface ServerLaunch {
  command: string;
  args: string[];
}

/** How to start the server: `ctask.server.command` and `ctask.server.args` (the client adds `--stdio`). */
export function serverLaunch(config: ConfigLike): ServerLaunch {
  const command = (config.get<string>(Setting.serverCommand) ?? '').trim() || 'ctask-ls';
  const args = (config.get<unknown[]>(Setting.serverArgs) ?? []).filter((a): a is string => typeof a === 'string');
  return { command, args };
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * The settings sent as `initializationOptions` and with
 * `workspace/didChangeConfiguration`.  Only what the user set explicitly is
 * sent: anything else keeps the value of the ctask
 * config file, so the CLI and the editor agree unless a setting says otherwise.
 */
export function serverSettings(config: ConfigLike): ServerSettings {
  const settings: ServerSettings = {};
  const autoAdopt = explicitValue<boolean>(config, Setting.autoAdopt);
  if (typeof autoAdopt === 'boolean') {
    settings.autoAdopt = autoAdopt;
  }
  const home = explicitValue<string>(config, Setting.home);
  if (typeof home === 'string' && home.trim()) {
    settings.home = home.trim();
  }
  const agentCommand = explicitValue<string>(config, Setting.agentCommand);
  const agentArgs = explicitValue<unknown[]>(config, Setting.agentArgs);
  if ((typeof agentCommand === 'string' && agentCommand.trim()) || Array.isArray(agentArgs)) {
    settings.agent = {};
    if (typeof agentCommand === 'string' && agentCommand.trim()) {
      settings.agent.command = agentCommand.trim();
    }
    if (Array.isArray(agentArgs)) {
      settings.agent.args = agentArgs.filter((a): a is string => typeof a === 'string');
    }
  }
  const intervals = [
    ['heartbeatInterval', Setting.heartbeatInterval],
    ['staleAfter', Setting.staleAfter],
    ['pollInterval', Setting.pollInterval],
    ['lockTimeout', Setting.lockTimeout],
    ['idleAfter', Setting.idleAfter],
  ] as const;
  for (const [field, key] of intervals) {
    const value = positive(explicitValue<number>(config, key));
    if (value !== undefined) {
      settings[field] = value;
    }
  }
  return settings;
}

/**
 * Connecting to a `ctask-ls --tcp` that is already running, instead of
 * starting one over stdio.  Both settings are read from the user's own
 * settings only (contributed with scope `machine`; a workspace value is
 * ignored), so a repository cannot point the extension, and its token, at
 * another server.
 */
export const SERVER_ADDRESS = 'server.address';
export const SERVER_TOKEN_FILE = 'server.tokenFile';

export interface TcpServer {
  host: string;
  port: number;
  /** The file ctask-ls wrote its token to (it prints the path); read at each connection. */
  tokenFile: string;
}

/** A user setting (never a workspace or folder value). */
function userValue<T>(config: ConfigLike, key: string): T | undefined {
  return config.inspect<T>(key)?.globalValue;
}

/**
 * `ctask.server.address` (`HOST:PORT`, `[::1]:PORT`) with `ctask.server.tokenFile`;
 * undefined when no address is set (the extension starts ctask-ls over stdio).
 * Throws an Error whose message says which setting to fix.
 */
export function tcpServer(config: ConfigLike): TcpServer | undefined {
  const address = (userValue<string>(config, SERVER_ADDRESS) ?? '').trim();
  if (!address) {
    return undefined;
  }
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new Error(`ctask.server.address "${address}" is not HOST:PORT (for example 127.0.0.1:2087)`);
  }
  const tokenFile = (userValue<string>(config, SERVER_TOKEN_FILE) ?? '').trim();
  if (!tokenFile) {
    throw new Error(
      'ctask.server.address is set but ctask.server.tokenFile is not: set it to the token file ctask-ls printed when it started',
    );
  }
  return { host: match[1] ?? match[2], port, tokenFile };
}

/** The token in FILE (trimmed); an Error that says what is wrong otherwise.  Never stored in settings. */
export function readToken(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new Error(`cannot read the token file ${file} (${code}); is ctask-ls --tcp running? Check ctask.server.tokenFile`);
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) {
    throw new Error(`the token file ${file} does not hold a token; check ctask.server.tokenFile`);
  }
  return token;
}

/** Does a configuration change need a server restart (how it is started changed)? */
export const RESTART_KEYS = [Setting.serverCommand, Setting.serverArgs, SERVER_ADDRESS, SERVER_TOKEN_FILE];

/**
 * Where COMMAND runs from: itself when it has a slash, else the first
 * executable of that name on PATH; undefined when there is none.
 */
export function findExecutable(command: string, envPath: string | undefined = process.env.PATH): string | undefined {
  const executable = (file: string): boolean => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes(path.sep)) {
    return executable(command) ? command : undefined;
  }
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, command))) {
      return path.join(dir, command);
    }
  }
  return undefined;
}

/**
 * The ctask home the server will use: `ctask.home` (user settings), else `$CTASK_HOME`, else
 * `$XDG_DATA_HOME/ctask`, else `~/.local/share/ctask` (the CLI's rule).
 */
export function ctaskHome(config: ConfigLike, env: NodeJS.ProcessEnv = process.env): string {
  const set = explicitValue<string>(config, Setting.home);
  if (typeof set === 'string' && set.trim()) {
    return set.trim().replace(/^~(?=\/|$)/, os.homedir());
  }
  if (env.CTASK_HOME) {
    return env.CTASK_HOME;
  }
  const data = env.XDG_DATA_HOME || path.join(env.HOME || os.homedir(), '.local', 'share');
  return path.join(data, 'ctask');
}

/**
 * The task whose agent's tree (`HOME/tasks/NAME/work`) holds one of FOLDERS, if any: such a window starts the
 * server at once (its status bar shows the task); any other starts it on first use.  Paths only, and one stat.
 */
export function taskOfFolders(folders: readonly string[], home: string): string | undefined {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const tasks = real(path.join(home, 'tasks'));
  for (const folder of folders) {
    const parts = path.relative(tasks, real(folder)).split(path.sep);
    if (parts.length >= 2 && parts[0] && parts[0] !== '..' && parts[1] === 'work' && fs.existsSync(path.join(tasks, parts[0], 'task.yaml'))) {
      return parts[0];
    }
  }
  return undefined;
}

/** One host of `ctask.hosts`: its own ctask-ls, reached with `ssh SSH COMMAND --stdio` (SPEC 10). */
export interface HostSpec {
  name: string;
  /** The ssh destination (a Host of ~/.ssh/config, or user@host); default: the name. */
  ssh: string;
  /** The server command there; default `ctask-ls`. */
  command: string;
}

/** The name of this machine's own server among the hosts. */
export const LOCAL_HOST = 'local';
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * `ctask.hosts` (user settings only: scope `machine`): the hosts and the one-line problems of the entries left
 * out.  An entry is a name, or `{name, ssh?, command?}`.
 */
export function hostsSetting(config: ConfigLike): { hosts: HostSpec[]; problems: string[] } {
  const raw = config.get<unknown>(Setting.hosts);
  const hosts: HostSpec[] = [];
  const problems: string[] = [];
  for (const entry of Array.isArray(raw) ? (raw as unknown[]) : []) {
    const e = (typeof entry === 'string' ? { name: entry } : entry) as { name?: unknown; ssh?: unknown; command?: unknown } | null;
    const name = typeof e?.name === 'string' ? e.name.trim() : '';
    const ssh = typeof e?.ssh === 'string' && e.ssh.trim() ? e.ssh.trim() : name;
    const command = typeof e?.command === 'string' && e.command.trim() ? e.command.trim() : 'ctask-ls';
    if (!HOST_NAME.test(name) || name === LOCAL_HOST) {
      problems.push(`ctask.hosts: ${JSON.stringify(entry)} needs a name of letters, digits, '.', '_' or '-' (not "${LOCAL_HOST}")`);
    } else if (hosts.some((h) => h.name === name)) {
      problems.push(`ctask.hosts: host "${name}" is given twice; the first one is used`);
    } else if (ssh.startsWith('-') || /\s/.test(ssh)) {
      problems.push(`ctask.hosts: the ssh destination of "${name}" must be a host name or user@host, not "${ssh}"`);
    } else if (/[\n\r]/.test(command)) {
      problems.push(`ctask.hosts: the command of "${name}" must be one line`);
    } else {
      hosts.push({ name, ssh, command });
    }
  }
  return { hosts, problems };
}

/** The ssh program and its options: `ctask.ssh.command` is not a setting; `$CTASK_SSH` (as the CLI's) or `ssh`. */
export function sshProgram(env: NodeJS.ProcessEnv = process.env): string[] {
  const words = (env.CTASK_SSH ?? '').trim().split(/\s+/).filter(Boolean);
  return words.length ? words : ['ssh'];
}

/** How to start HOST's server: `ssh -T -o BatchMode=yes DEST COMMAND` (the client adds `--stdio`). */
export function hostLaunch(host: HostSpec, env: NodeJS.ProcessEnv = process.env): ServerLaunch {
  const [command, ...options] = sshProgram(env);
  return {
    command,
    args: [...options, '-T', '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=15', '--', host.ssh, host.command],
  };
}

/** A word for a POSIX shell: as it is when plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A terminal spec of HOST's server (`tmux attach-session ...` there) as a local one: `ssh -t DEST 'env ... tmux ...'`. */
export function remoteTerminal(spec: TerminalSpec, host: HostSpec, env: NodeJS.ProcessEnv = process.env): TerminalSpec {
  const [ssh, ...options] = sshProgram(env);
  const assignments = Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const words = [...(assignments.length ? ['env', ...assignments] : []), spec.command, ...(spec.args ?? [])];
  const line = `${spec.cwd ? `cd ${shellWord(spec.cwd)} && ` : ''}exec ${words.map(shellWord).join(' ')}`;
  // The local terminal starts in the extension's own cwd: the task's folder is on the host.
  return { name: `${host.name}: ${spec.name}`, command: ssh, args: [...options, '-t', '--', host.ssh, line], cwd: '', env: {} };
}

/**
 * Why a server whose `initialize` said EXPERIMENTAL cannot be used (another protocol: an older or newer ctask),
 * in one line with what to do; undefined when it speaks this extension's.
 */
export function protocolMismatch(experimental: unknown, host?: HostSpec): string | undefined {
  const ours = (experimental as { ctask?: { protocol?: unknown; version?: unknown } } | null | undefined)?.ctask;
  if (ours?.protocol === PROTOCOL_VERSION) {
    return undefined;
  }
  const where = host ? `host ${host.name}` : 'this machine';
  const what = typeof ours?.version === 'string' ? `ctask-ls ${ours.version} (protocol ${String(ours.protocol)})` : 'an older ctask-ls';
  return `${where} runs ${what}, and this extension speaks protocol ${PROTOCOL_VERSION}: install the same ctask there (pipx upgrade ctask-ls), then run "ctask: Restart Server"`;
}
