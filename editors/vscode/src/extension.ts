/** Entry point: the parts of src/wiring.ts around the real language client. */
import { CtaskServer } from './server';
import { type Wired, wire } from './wiring';
import type * as api from './vscodeapi';

let server: CtaskServer | undefined;

export function activate(context: api.ExtensionContext): Wired<CtaskServer> {
  const wired = wire(context, (output, handlers) => new CtaskServer(output, handlers));
  server = wired.server;
  return wired;
}

/** Stop the server cleanly: it removes its leases so the next owner can adopt at once. */
export async function deactivate(): Promise<void> {
  const s = server;
  server = undefined;
  await s?.stop();
}
