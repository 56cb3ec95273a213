// Drive ctask-ls from Node with vscode-jsonrpc, the JSON-RPC library under
// VS Code's language client: initialize, ctask.new, ctask.list, a bad
// argument, ctask/leaseState, ctask/diff, ctask/sessionEnded, shutdown, exit.
//
// Inputs (environment): CTASK_LS_PYTHON (the Python that runs the server),
// CTASK_TEST_AGENT (the scriptable agent), CTASK_TEST_GO (the file the agent
// waits for), CTASK_TEST_COMMANDS (JSON list of the commands to expect), plus
// the isolated CTASK_HOME / CTASK_TMUX_SOCKET / HOME the test sets.
// Output: one JSON line on stdout; exit status 0 when every check passed.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const rpc = require('vscode-jsonrpc/node');

const python = process.env.CTASK_LS_PYTHON;
const agent = process.env.CTASK_TEST_AGENT;
const go = process.env.CTASK_TEST_GO;
const expected = JSON.parse(process.env.CTASK_TEST_COMMANDS ?? '[]');

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function waitFor(list, pred, ms, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const hit = list.find(pred);
      if (hit) {
        clearInterval(timer);
        resolve(hit);
      } else if (Date.now() - started > ms) {
        clearInterval(timer);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(list)}`));
      }
    }, 20);
  });
}

async function main() {
  // VS Code's client (TransportKind.stdio) adds --stdio: so do we.
  const server = spawn(python, ['-m', 'ctask_ls', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  const connection = rpc.createMessageConnection(
    new rpc.StreamMessageReader(server.stdout),
    new rpc.StreamMessageWriter(server.stdin),
  );
  const leases = [];
  const diffs = [];
  const ended = [];
  connection.onNotification('ctask/leaseState', (p) => leases.push(p));
  connection.onNotification('ctask/diff', (p) => diffs.push(p));
  connection.onNotification('ctask/sessionEnded', (p) => ended.push(p));
  connection.onNotification('window/logMessage', () => {});
  connection.onNotification('window/showMessage', (p) => process.stderr.write(`showMessage: ${p.message}\n`));
  connection.onNotification('$/progress', () => {});
  connection.onRequest('window/showMessageRequest', () => null);
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.listen();

  const init = await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    clientInfo: { name: 'vscode-jsonrpc test', version: '10.0.0' },
    capabilities: {
      window: { workDoneProgress: true, showMessage: { messageActionItem: { additionalPropertiesSupport: false } } },
      workspace: { executeCommand: { dynamicRegistration: false }, configuration: true },
    },
    initializationOptions: { ctask: { autoAdopt: true } },
  });
  const commands = init.capabilities.executeCommandProvider.commands;
  check(JSON.stringify([...commands].sort()) === JSON.stringify([...expected].sort()), `commands ${commands}`);
  await connection.sendNotification('initialized', {});

  const run = (command, arg) => connection.sendRequest('workspace/executeCommand', { command, arguments: [arg] });
  const launched = await run('ctask.new', {
    name: 'node1',
    agent: python,
    args: [agent, 'write=n.txt:x', `wait=${go}`],
  });
  check(launched.task === 'node1' && launched.action === 'launched', `launch result ${JSON.stringify(launched)}`);
  check(launched.terminal.command.endsWith('tmux'), 'terminal spec runs tmux');
  check(launched.terminal.args.includes('attach-session'), 'terminal spec attaches');

  const listed = await run('ctask.list', {});
  check(listed.length === 1 && listed[0].name === 'node1', `list ${JSON.stringify(listed)}`);
  check(listed[0].lease.state === 'fresh_local', 'listed lease is fresh_local');

  const lease = await waitFor(
    leases,
    (p) => p.name === 'node1' && p.lease.state === 'fresh_local' && p.owned_here && p.tmux_alive,
    5000,
    'ctask/leaseState fresh_local',
  );

  let error = null;
  try {
    await run('ctask.status', { name: '../nope' });
  } catch (e) {
    error = e;
  }
  check(error instanceof rpc.ResponseError, 'a bad name is a ResponseError');
  check(error.code === -32602 && error.data.kind === 'InvalidName', `error ${error.code} ${JSON.stringify(error.data)}`);
  check(!error.message.includes('\n'), 'one-line message');

  const live = await waitFor(diffs, (p) => p.name === 'node1' && !p.final, 8000, 'a live ctask/diff');
  writeFileSync(go, '');
  const end = await waitFor(ended, (p) => p.name === 'node1', 10000, 'ctask/sessionEnded');
  const final = diffs.find((p) => p.name === 'node1' && p.final);
  check(final && final.added.includes('n.txt'), 'final ctask/diff lists n.txt');

  await connection.sendRequest('shutdown');
  await connection.sendNotification('exit');
  const code = await exited;
  connection.dispose();
  check(code === 0, `server exit status ${code}`);

  process.stdout.write(
    JSON.stringify({
      commands,
      lease,
      live: live.added,
      errorKind: error.data.kind,
      endReason: end.summary.end_reason,
      added: end.summary.added,
      exitCode: code,
    }) + '\n',
  );
}

const deadline = setTimeout(() => {
  process.stderr.write('client.mjs: timed out\n');
  process.exit(3);
}, 60000);

main().then(
  () => {
    clearTimeout(deadline);
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`client.mjs: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
