/** Import first in every unit test: `require('vscode')` then returns unit/mock/vscode. */
import Module from 'node:module';
import * as path from 'node:path';

const mockPath = path.join(__dirname, 'mock', 'vscode.js');
const internal = Module as unknown as {
  _resolveFilename: (request: string, ...rest: unknown[]) => string;
};
const resolve = internal._resolveFilename;
internal._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? mockPath : resolve.call(this, request, ...rest);
};
