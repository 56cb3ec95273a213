/** Entry point: the parts of src/wiring.ts around the real language client. */
import { CtaskServer } from './server';
import { type Wired, wire } from './wiring';
import * as api from './vscodeapi';

let server: CtaskServer | undefined;

export function activate(context: api.ExtensionContext): Wired<CtaskServer> {
  const readme = api.joinPath(context.extensionUri, 'README.md');
  const wired = wire(context, (output, handlers, host) =>
    host
      ? new CtaskServer(output, handlers, { host })
      : new CtaskServer(output, handlers, { memory: context.globalState, showInstructions: () => api.showMarkdown(readme) }),
  );
  server = wired.server;
  return wired;
}

/** Stop the server cleanly: it removes its leases so the next owner can adopt at once. */
export async function deactivate(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.stop();
}
