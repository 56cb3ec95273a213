import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Command, ServerCommand } from '../src/constants';
import { PROTOCOL_VERSION } from '../src/generated/protocol';
import type { ServerHandlers, ServerState } from '../src/server';
import { hostLaunch, hostsSetting, protocolMismatch, remoteTerminal, shellWord, type HostSpec } from '../src/settings';
import { wire } from '../src/wiring';
import { FakeServer, owned } from './fakes';
import { mock } from './mock/vscode';

const BOX: HostSpec = { name: 'box', ssh: 'me@box', command: 'ctask-ls' };

function config(hosts: unknown) {
  return { get: <T>(key: string) => (key === 'hosts' ? (hosts as T) : undefined), inspect: () => undefined };
}

test('ctask.hosts: names, ssh destinations and commands; a bad entry is one line and left out', () => {
  const { hosts, problems } = hostsSetting(
    config(['vm2', { name: 'box', ssh: 'me@box', command: '~/.venv/bin/ctask-ls' }, { name: 'local' }, { name: 'x', ssh: '-oProxyCommand=evil' }, 'vm2', 42]),
  );
  assert.deepEqual(hosts, [
    { name: 'vm2', ssh: 'vm2', command: 'ctask-ls' },
    { name: 'box', ssh: 'me@box', command: '~/.venv/bin/ctask-ls' },
  ]);
  assert.equal(problems.length, 4);
  assert.match(problems[0], /needs a name .* \(not "local"\)/);
  assert.match(problems[1], /the ssh destination of "x" must be a host name or user@host/);
  assert.match(problems[2], /host "vm2" is given twice/);
});

test('a host\'s server is ssh in batch mode (no password prompt), its options from $CTASK_SSH', () => {
  assert.deepEqual(hostLaunch(BOX, {}), {
    command: 'ssh',
    args: ['-T', '-o', 'BatchMode=yes', '-o', 'ServerAliveInterval=15', '--', 'me@box', 'ctask-ls'],
  });
  assert.deepEqual(hostLaunch(BOX, { CTASK_SSH: 'ssh -F /t/config' }).args.slice(0, 3), ['-F', '/t/config', '-T']);
});

test('Attach on a host: ssh -t onto its tmux session, every word quoted for the remote shell', () => {
  const spec = { name: 'ctask: fix', command: 'tmux', args: ['-L', 'ctask', 'attach-session', '-t', '=ctask-fix'], cwd: "/home/me/it's", env: { TMUX: '' } };
  assert.deepEqual(remoteTerminal(spec, BOX, {}), {
    name: 'box: ctask: fix',
    command: 'ssh',
    args: ['-t', '--', 'me@box', "cd '/home/me/it'\\''s' && exec env TMUX= tmux -L ctask attach-session -t =ctask-fix"],
    cwd: '',
    env: {},
  });
  assert.equal(shellWord('$(rm -rf ~)'), "'$(rm -rf ~)'");
});

/** A server whose notifications the test sends by hand, and which says which host it is for. */
class HostServer extends FakeServer {
  started = 0;
  constructor(
    readonly handlers: ServerHandlers,
    readonly host: HostSpec | undefined,
  ) {
    super();
    this.state = 'idle';
  }
  start(): Promise<void> {
    this.started += 1;
    this.become('running');
    return Promise.resolve();
  }
  sendSettings(): Promise<void> {
    return Promise.resolve();
  }
  dispose(): void {}
  become(state: ServerState): void {
    this.state = state;
    this.handlers.stateChanged(state);
  }
}

let subscriptions: { dispose(): unknown }[];
let servers: HostServer[];

beforeEach(() => {
  mock.reset();
  subscriptions = [];
  servers = [];
  mock.settings.set('ctask.hosts', { user: [{ name: 'box', ssh: 'me@box' }, 'vm2'] });
  wire({ subscriptions }, (_output, handlers, host) => {
    const s = new HostServer(handlers, host);
    servers.push(s);
    return s;
  });
});

afterEach(() => {
  for (const d of subscriptions) {
    d.dispose();
  }
});

test('with hosts, one server each; the view groups the tasks by host and says which host is unreachable', async () => {
  assert.deepEqual(
    servers.map((s) => s.host?.name ?? 'local'),
    ['local', 'box', 'vm2'],
  );
  const view = mock.treeViews.get('ctask.tasks')!;
  const roots = (await view.provider.getChildren()) as { kind: string; host: string }[];
  assert.deepEqual(roots, [
    { kind: 'host', host: 'local' },
    { kind: 'host', host: 'box' },
    { kind: 'host', host: 'vm2' },
  ]);
  assert.deepEqual(
    servers.map((s) => s.started),
    [1, 1, 1],
    'the view is a first use of every host',
  );
  const [, box, vm2] = servers;
  box.handlers.leaseState(owned('fix'));
  vm2.become('stopped');
  const rows = roots.map((r) => view.provider.getTreeItem(r));
  assert.deepEqual(
    rows.map((r) => [r.label, r.description, r.contextValue]),
    [
      ['local', 'this machine · 0 tasks', 'host'],
      ['box', '1 task', 'host'],
      ['vm2', 'unreachable', 'host.failed'],
    ],
  );
  const [note] = (await view.provider.getChildren(roots[2])) as { kind: string }[];
  assert.equal(note.kind, 'note', 'an unreachable host\'s tasks are not guessed');
  const [task] = (await view.provider.getChildren(roots[1])) as { kind: string; name: string; host: string }[];
  assert.deepEqual(task, { kind: 'task', name: 'fix', host: 'box' });
  assert.equal(view.provider.getTreeItem(task).contextValue, 'task.running');
});

test('a row\'s action goes to its host; Attach there opens ssh -t; the palette asks which host first', async () => {
  const [local, box] = servers;
  box.become('running');
  box.handlers.leaseState(owned('fix'));
  box.reply(ServerCommand.attach, () => ({
    task: 'fix',
    action: 'passive',
    session: { session_id: 's', tmux_session: 'ctask-fix', lease: { state: 'fresh_local' } },
    terminal: { name: 'ctask: fix', command: 'tmux', args: ['-L', 'ctask', 'attach-session', '-t', '=ctask-fix'], cwd: '/w', env: {} },
  }));
  await mock.commands.get(Command.attach)!({ kind: 'task', name: 'fix', host: 'box' });
  assert.deepEqual(box.sent(ServerCommand.attach), [{ name: 'fix' }]);
  assert.deepEqual(local.calls, []);
  const terminal = mock.terminals.at(-1)!.creationOptions;
  assert.equal(terminal.name, 'box: ctask: fix');
  assert.equal(terminal.shellPath, 'ssh');
  assert.deepEqual(terminal.shellArgs.slice(0, 3), ['-t', '--', 'me@box']);

  // The palette: which host? then the task's name; the chosen host's server makes it.
  box.reply(ServerCommand.new, () => ({ task: 'new1', action: 'launched', terminal: { name: 'ctask: new1', command: 'tmux', args: [], cwd: '/w', env: {} } }));
  mock.answer.quickPick = (items, options) => (options.title === 'ctask: which host?' ? items.find((i) => i.label === 'box') : undefined);
  mock.answer.inputBox = () => 'new1';
  await mock.commands.get(Command.newTask)!();
  assert.deepEqual(
    mock.quickPicks[0].items.map((i) => i.label),
    ['local', 'box', 'vm2'],
  );
  assert.equal(box.sent(ServerCommand.new).length, 1);
  assert.deepEqual(local.sent(ServerCommand.new), []);
});

test('a server of another protocol (an older ctask on a host) is refused in one line that says what to do', () => {
  assert.equal(protocolMismatch({ ctask: { protocol: PROTOCOL_VERSION, version: '0.2.0' } }, BOX), undefined);
  assert.equal(
    protocolMismatch(undefined, BOX),
    `host box runs an older ctask-ls, and this extension speaks protocol ${PROTOCOL_VERSION}: install the same ctask there (pipx upgrade ctask-ls), then run "ctask: Restart Server"`,
  );
  assert.match(protocolMismatch({ ctask: { protocol: 99, version: '9.0.0' } }) ?? '', /^this machine runs ctask-ls 9\.0\.0 \(protocol 99\)/);
});
