/** Integrated terminals from the server's terminal spec (`tmux attach-session ...`). */
import type { TerminalSpec } from './protocol';
import * as api from './vscodeapi';

/** Show the terminal of SPEC: the one already running under that name, else a new one. */
export function openTerminal(spec: TerminalSpec): api.Terminal {
  const running = api.terminals().find((t) => t.name === spec.name && t.exitStatus === undefined);
  if (running) {
    running.show();
    return running;
  }
  const options: api.TerminalOptions = { name: spec.name, shellPath: spec.command, shellArgs: spec.args ?? [] };
  if (spec.cwd) {
    options.cwd = spec.cwd;
  }
  if (spec.env && Object.keys(spec.env).length) {
    options.env = spec.env;
  }
  const terminal = api.createTerminal(options);
  terminal.show();
  return terminal;
}
