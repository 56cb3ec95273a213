import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Command, ErrorKind, ServerCommand } from '../src/constants';
import { ServerError } from '../src/errors';
import { CHECKPOINT_SCHEME, DIFF_CONTEXT } from '../src/review';
import { PROTOCOL_VERSION } from '../src/generated/protocol';
import type { ServerHandlers, ServerState } from '../src/server';
import { hostLaunch, hostsSetting, protocolMismatch, remoteTerminal, shellWord, type HostSpec } from '../src/settings';
import { wire } from '../src/wiring';
import { FakeServer, diff, owned } from './fakes';
import { TabInputTextDiff, Uri, mock } from './mock/vscode';

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

test('a changed file of another host\'s task: both sides of the diff come from that host\'s server, the right one as it is now there', async () => {
  const [local, box] = servers;
  box.become('running');
  box.handlers.leaseState(owned('fix', { workspace: '/srv/box/tasks/fix' }));
  box.handlers.diff(diff('fix', { modified: ['src/a.py'], checkpoint: 3 }));
  let now = 'print(2)\n';
  box.reply(ServerCommand.fileAt, (a) => (a.current ? { content: now, checkpoint: null } : { content: 'print(1)\n', checkpoint: { n: 3 } }));
  const view = mock.treeViews.get('ctask.tasks')!;
  const [, boxRow] = (await view.provider.getChildren()) as object[];
  const [task] = (await view.provider.getChildren(boxRow)) as object[];
  const [change] = (await view.provider.getChildren(task)) as object[];
  await mock.commands.get(Command.openChange)!(change);

  const call = mock.executed.filter(([id]) => id === 'vscode.diff').at(-1)!;
  const [left, right, title] = call[1] as [Uri, Uri, string];
  assert.equal(String(left), 'ctask-checkpoint:/src/a.py?task=fix&checkpoint=3&host=box');
  assert.equal(String(right), 'ctask-checkpoint:/src/a.py?task=fix&checkpoint=3&host=box&current=1');
  assert.equal(title, 'a.py (box:fix: checkpoint 3 ↔ now)');
  const provider = mock.providers.get(CHECKPOINT_SCHEME)!;
  assert.equal(await provider.provideTextDocumentContent(left), 'print(1)\n');
  assert.equal(await provider.provideTextDocumentContent(right), 'print(2)\n');
  assert.deepEqual(box.sent(ServerCommand.fileAt), [
    { name: 'fix', path: 'src/a.py', checkpoint: '3' },
    { name: 'fix', path: 'src/a.py', current: true },
  ]);
  assert.deepEqual(local.sent(ServerCommand.fileAt), [], 'nothing of another host is read on this machine');

  // The agent writes again: the host's diff makes VS Code ask for the right side anew, never from a cache.
  const asked: string[] = [];
  provider.onDidChange!((uri) => asked.push(String(uri)));
  now = 'print(3)\n';
  box.handlers.diff(diff('fix', { modified: ['src/a.py'], checkpoint: 3 }));
  assert.deepEqual(asked, [String(right)]);
  assert.equal(await provider.provideTextDocumentContent(right), 'print(3)\n');

  // Revert File from that diff (its title-bar button): that host's server reverts, the message names the host.
  mock.activeTab = { input: new TabInputTextDiff(left, right) };
  mock.onTabsChanged();
  assert.equal(mock.context.get(DIFF_CONTEXT), true, 'the Revert File button shows');
  box.reply(ServerCommand.revert, () => ({ task: 'fix', to: { n: 3 }, before: { n: 7 }, restored: ['src/a.py'], deleted: [] }));
  mock.answer.message = (m) => (m.modal ? 'Revert' : undefined);
  await mock.commands.get(Command.revertFile)!(right);
  assert.deepEqual(box.sent(ServerCommand.revert), [{ name: 'fix', paths: ['src/a.py'], to: '3' }]);
  assert.deepEqual(local.sent(ServerCommand.revert), []);
  assert.match(mock.messages.at(-2)!.message, /^Put src\/a\.py of task box:fix back as it was at checkpoint 3\?/);
  assert.match(mock.messages.at(-1)!.message, /^ctask: src\/a\.py of task box:fix restored as at checkpoint 3/);
  assert.deepEqual(asked, [String(right), String(right)], 'the right side is read again after the revert');
});

test('another host\'s file that cannot be compared (binary) is said with the host; a deleted one has an empty right side', async () => {
  const [, box] = servers;
  box.become('running');
  box.handlers.leaseState(owned('fix'));
  box.reply(ServerCommand.fileAt, () => {
    throw new ServerError('img.png in checkpoint 1 of task fix is a binary file (9 bytes)', ErrorKind.invalidArgument);
  });
  mock.answer.quickPick = (items, options) => (options.title === 'ctask: which host?' ? items.find((i) => i.label === 'box') : items.find((i) => i.file === 'img.png'));
  mock.answer.inputBox = () => undefined;
  box.reply(ServerCommand.diff, () => ({ ...diff('fix', { modified: ['img.png'], deleted: ['old.txt'], checkpoint: 1 }), live: true }));
  await mock.commands.get(Command.showChanges)!({ kind: 'task', name: 'fix', host: 'box' });
  assert.equal(mock.executed.filter(([id]) => id === 'vscode.diff').length, 0);
  assert.equal(mock.messages.at(-1)!.message, 'ctask: cannot compare: img.png in checkpoint 1 of task fix is a binary file (9 bytes)');

  // Its "Open File" opens the file as it is on the host, alone; Revert File from the palette reverts it there.
  mock.answer.message = (m) => (m.items.includes('Open File') ? 'Open File' : undefined);
  await mock.commands.get(Command.showChanges)!({ kind: 'task', name: 'fix', host: 'box' });
  const alone = 'ctask-checkpoint:/img.png?task=fix&checkpoint=1&host=box&current=1';
  assert.equal(mock.openedFiles.at(-1), alone);
  mock.activeFile = Uri.from({ scheme: CHECKPOINT_SCHEME, path: '/img.png', query: 'task=fix&checkpoint=1&host=box&current=1' });
  assert.equal(String(mock.activeFile), alone);
  box.reply(ServerCommand.revert, () => ({ task: 'fix', to: { n: 1 }, before: { n: 2 }, restored: ['img.png'], deleted: [] }));
  mock.answer.message = (m) => (m.modal ? 'Revert' : undefined);
  await mock.commands.get(Command.revertFile)!();
  assert.deepEqual(box.sent(ServerCommand.revert), [{ name: 'fix', paths: ['img.png'], to: '1' }]);
  assert.match(mock.messages.at(-1)!.message, /^ctask: img\.png of task box:fix restored as at checkpoint 1/);

  box.reply(ServerCommand.fileAt, () => ({ content: 'was\n', checkpoint: { n: 1 } }));
  mock.answer.quickPick = (items) => items.find((i) => i.file === 'old.txt');
  await mock.commands.get(Command.showChanges)!({ kind: 'task', name: 'fix', host: 'box' });
  const call = mock.executed.filter(([id]) => id === 'vscode.diff').at(-1)!;
  assert.deepEqual(
    call[1].slice(0, 3).map(String),
    [
      'ctask-checkpoint:/old.txt?task=fix&checkpoint=1&host=box',
      'ctask-checkpoint:/old.txt?task=fix&checkpoint=1&absent=1&host=box',
      'old.txt (box:fix: checkpoint 1 ↔ deleted)',
    ],
  );
});
