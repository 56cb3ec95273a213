/**
 * Reading the extension's settings.  Plain TypeScript over a small
 * configuration interface (vscode's WorkspaceConfiguration satisfies it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Setting } from './constants';
import type { ServerSettings } from './protocol';

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
 * sent (and `autoAdopt`, always): anything else keeps the value of the ctask
 * config file, so the CLI and the editor agree unless a setting says otherwise.
 */
export function serverSettings(config: ConfigLike): ServerSettings {
  const settings: ServerSettings = { autoAdopt: config.get<boolean>(Setting.autoAdopt) !== false };
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
  ] as const;
  for (const [field, key] of intervals) {
    const value = positive(explicitValue<number>(config, key));
    if (value !== undefined) {
      settings[field] = value;
    }
  }
  return settings;
}

/** Does a configuration change need a server restart (how it is started changed)? */
export const RESTART_KEYS = [Setting.serverCommand, Setting.serverArgs];

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
