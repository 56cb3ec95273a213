import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Command, ServerCommand } from '../src/constants';
import type { ServerHandlers, ServerState } from '../src/server';
import { type Wired, wire } from '../src/wiring';
import { FakeServer, diff, lease, owned, taskJson } from './fakes';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mock } from './mock/vscode';

/** A server whose notifications the test sends by hand. */
class FakeManagedServer extends FakeServer {
  started = 0;
  settingsSent = 0;
  disposed = false;
  constructor(readonly handlers: ServerHandlers) {
    super();
    this.state = 'idle';
  }
  start(): Promise<void> {
    this.started += 1;
    this.become('starting');
    return Promise.resolve();
  }
  sendSettings(): Promise<void> {
    this.settingsSent += 1;
    return Promise.resolve();
  }
  dispose(): void {
    this.disposed = true;
  }
  become(state: ServerState): void {
    this.state = state;
    this.handlers.stateChanged(state);
  }
}

let subscriptions: { dispose(): unknown }[];
let wired: Wired<FakeManagedServer>;

function item() {
  return mock.statusBarItems[0];
}

function configChange(...keys: string[]): void {
  const event = { affectsConfiguration: (section: string) => keys.some((k) => k === section || k.startsWith(`${section}.`)) };
  for (const listener of mock.configListeners) {
    listener(event);
  }
}

beforeEach(() => {
  mock.reset();
  subscriptions = [];
  wired = wire({ subscriptions }, (_output, handlers) => new FakeManagedServer(handlers));
});

afterEach(() => {
  for (const d of subscriptions) {
    d.dispose();
  }
});

test('activation in a window that is no task\'s tree starts no server; everything is a subscription', () => {
  assert.equal(wired.server.started, 0);
  assert.equal(item().text, '$(tasklist) ctask');
  assert.equal(item().accessibilityInformation?.label, 'ctask: not started');
  assert.equal(mock.context.get('ctask.server'), 'idle');
  assert.ok(subscriptions.length >= 16);
  for (const d of subscriptions) {
    d.dispose();
  }
  assert.equal(mock.commands.size, 0);
  assert.equal(item().disposed, true);
  assert.equal(wired.server.disposed, true);
  subscriptions = [];
});

test('the status bar follows the server state and ctask/leaseState at once', () => {
  wired.server.become('running');
  assert.equal(item().text, '$(tasklist) ctask');
  wired.server.handlers.leaseState(owned('fix'));
  // Not current yet: neither an open folder nor acted on.
  assert.equal(item().text, '$(tasklist) ctask');
  mock.folders = ['/home/u/.local/share/ctask/tasks/fix'];
  wired.server.handlers.leaseState(owned('fix'));
  assert.equal(item().text, '$(pulse) fix: owned');
  wired.server.handlers.diff(diff('fix', { added: ['a'] }));
  assert.match(String((item().tooltip as { value: string }).value), /changes so far: \+1 ~0 -0/);
  wired.server.handlers.leaseState(owned('fix', { state: 'stale', owned_here: false }));
  assert.equal(item().text, '$(warning) fix: stale');
  wired.server.handlers.leaseState(lease('fix'));
  wired.server.handlers.sessionEnded({ name: 'fix', summary: { end_reason: 'agent_exited', exit_status: 0, counts: { added: 1, modified: 0, deleted: 0 } } });
  assert.equal(item().text, '$(pass) fix: ended +1 ~0 -0');
  assert.match(mock.messages.at(-1)!.message, /task fix ended: agent exited \(exit status 0\)/);
  wired.server.become('stopped');
  assert.equal(item().text, '$(error) ctask');
});

test('a launched task becomes current', async () => {
  wired.server.become('running');
  mock.answer.inputBox = () => 'fix';
  wired.server.reply(ServerCommand.new, () => {
    wired.server.handlers.leaseState(owned('fix'));
    return { task: 'fix', action: 'launched', terminal: { name: 'ctask: fix', command: 'tmux', args: [] } };
  });
  await mock.commands.get(Command.newTask)!();
  assert.equal(item().text, '$(pulse) fix: owned');
  assert.equal(mock.terminals.length, 1);
});

test('settings changes are sent; server command changes restart it', () => {
  configChange('editor.fontSize');
  assert.equal(wired.server.settingsSent, 0);
  configChange('ctask.staleAfter');
  assert.equal(wired.server.settingsSent, 1);
  assert.equal(wired.server.restarts, 0);
  configChange('ctask.server.command');
  assert.equal(wired.server.restarts, 1);
  assert.equal(wired.server.settingsSent, 1);
});

test('while the current task is leased the tooltip\'s heartbeat age follows the clock, and nothing is polled', (t) => {
  // The timer of beforeEach runs on the real clock: dispose of it, then wire again under a mock clock.
  for (const d of subscriptions) {
    d.dispose();
  }
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.parse('2030-01-01T00:00:10Z') });
  mock.reset();
  subscriptions = [];
  wired = wire({ subscriptions }, (_output, handlers) => new FakeManagedServer(handlers));
  wired.server.become('running');
  wired.server.handlers.leaseState(owned('fix', { heartbeat_at: '2030-01-01T00:00:05Z', age_s: 5 }));
  wired.store.setLastActed('fix');
  const tooltip = (): string => String((item().tooltip as { value: string }).value);
  assert.match(tooltip(), /heartbeat 5s ago/);
  t.mock.timers.tick(7000);
  assert.match(tooltip(), /heartbeat 12s ago/, 'computed from heartbeat_at, not from the age sent');
  assert.deepEqual(wired.server.sent(ServerCommand.status), [], 'the age needs no ctask.status');
  wired.server.handlers.leaseState(owned('fix', { heartbeat_at: '2030-01-01T00:00:16Z', age_s: 0 }));
  t.mock.timers.tick(1000);
  assert.match(tooltip(), /heartbeat 2s ago/);
});

test('once the server runs, the tasks\' repositories are asked for once and kept through notifications', async () => {
  const repo = { path: '/src/app', branch: 'ctask/fix', base: 'abc', base_ref: 'HEAD', worktree: '/t/fix/app' };
  wired.server.reply(ServerCommand.list, () => [taskJson('fix', { state: 'missing' }, { repo }), taskJson('plain')]);
  wired.server.become('running');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(wired.server.sent(ServerCommand.list).length, 1);
  // The list's lease states are not applied (notifications are newer); the repository is, when the task shows up.
  assert.equal(wired.store.get('fix'), undefined);
  wired.server.handlers.leaseState(owned('fix'));
  wired.store.setLastActed('fix');
  assert.deepEqual(wired.store.get('fix')?.repo, repo);
  assert.match(String((item().tooltip as { value: string }).value), /branch ctask\/fix from HEAD \(abc\)/);
  wired.server.handlers.leaseState(lease('fix'));
  assert.equal(wired.store.get('fix')?.repo?.branch, 'ctask/fix');
  assert.equal(wired.store.get('plain'), undefined);
});

test('a window whose folder is a task\'s tree starts the server at once', (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ctask-home-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  fs.mkdirSync(path.join(home, 'tasks', 'fix', 'work', 'src'), { recursive: true });
  fs.writeFileSync(path.join(home, 'tasks', 'fix', 'task.yaml'), 'schema: 1\n');
  mock.settings.set('ctask.home', { user: home });
  for (const d of subscriptions) {
    d.dispose(); // beforeEach's wiring: each one below is a window of its own
  }
  subscriptions = [];
  for (const [folder, starts] of [
    [path.join(home, 'tasks', 'fix', 'work'), 1],
    [path.join(home, 'tasks', 'fix', 'work', 'src'), 1],
    [path.join(home, 'tasks', 'fix'), 0], // the control directory is not the agent's tree
    [path.join(home, 'tasks', 'other', 'work'), 0], // no such task
  ] as const) {
    mock.folders = [folder];
    const subs: { dispose(): unknown }[] = [];
    const again = wire({ subscriptions: subs }, (_output, handlers) => new FakeManagedServer(handlers));
    assert.equal(again.server.started, starts, folder);
    subs.forEach((d) => d.dispose());
  }
});

test('the task view lists the tasks (first use starts the server), their changed files, and redraws on notifications', async () => {
  const view = mock.treeViews.get('ctask.tasks')!;
  assert.ok(view);
  const roots = (await view.provider.getChildren()) as { kind: string; name: string }[];
  assert.equal(wired.server.started, 1, 'showing the view is a first use');
  assert.deepEqual(roots, []);
  wired.server.become('running');
  const before = view.refreshes;
  wired.server.handlers.leaseState(owned('fix'));
  wired.server.handlers.activity({ name: 'fix', workspace: '/w', activity: { state: 'needs_input', since: '2030-01-01T00:00:00Z', source: 'hook', message: 'permission to use Bash' }, conversation_id: null });
  wired.server.handlers.diff(diff('fix', { added: ['src/new.py'], modified: ['a.txt'], checkpoint: 2 }));
  assert.ok(view.refreshes > before, 'notifications redraw the view');
  const [task] = (await view.provider.getChildren()) as { kind: string; name: string }[];
  const row = view.provider.getTreeItem(task);
  assert.equal(row.label, 'fix');
  assert.equal(row.description, 'owned · needs input');
  assert.equal(row.contextValue, 'task.running');
  assert.deepEqual([row.iconPath?.id, row.iconPath?.color?.id], ['bell-dot', 'list.warningForeground']);
  const files = (await view.provider.getChildren(task)) as unknown[];
  const rows = files.map((f) => view.provider.getTreeItem(f));
  assert.deepEqual(rows.map((r) => [r.label, r.description, r.contextValue]), [
    ['new.py', 'src · added', 'change.added'],
    ['a.txt', 'modified', 'change.modified'],
  ]);
  assert.equal(rows[1].command?.command, Command.openChange);
  assert.deepEqual(rows[1].command?.arguments, [{ kind: 'change', task: 'fix', host: 'local', path: 'a.txt', change: 'modified', checkpoint: 2 }]);
  assert.equal(mock.context.get('ctask.hasTasks'), true);
  assert.equal(mock.context.get('ctask.anyRunning'), true);
  assert.equal(mock.context.get('ctask.server'), 'running');
  wired.server.handlers.leaseState(lease('fix'));
  assert.equal(mock.context.get('ctask.anyRunning'), false);
  assert.equal(view.provider.getTreeItem(task).contextValue, 'task.stopped');
});

test('the view redraws only when what it shows changes: a redraw replaces every row, and a click on one being replaced is lost', () => {
  const view = mock.treeViews.get('ctask.tasks')!;
  wired.server.become('running');
  wired.server.handlers.leaseState(owned('fix'));
  wired.server.handlers.diff(diff('fix', { added: ['a.txt'], checkpoint: 2 }));
  const before = view.refreshes;
  // A heartbeat's lease, the same activity again, the same diff again: the rows are as they were.
  wired.server.handlers.leaseState(owned('fix', { heartbeat_at: '2030-01-01T00:00:09Z', age_s: 3 }));
  wired.server.handlers.diff(diff('fix', { added: ['a.txt'], checkpoint: 2 }));
  assert.equal(view.refreshes, before);
  wired.server.handlers.activity({ name: 'fix', workspace: '/w', activity: { state: 'working', since: '2030-01-01T00:00:00Z', source: 'output' }, conversation_id: null });
  assert.equal(view.refreshes, before + 1, 'the row says working');
  wired.server.handlers.activity({ name: 'fix', workspace: '/w', activity: { state: 'working', since: '2030-01-01T00:00:05Z', source: 'output' }, conversation_id: null });
  assert.equal(view.refreshes, before + 1);
  wired.server.handlers.diff(diff('fix', { added: ['a.txt', 'b.txt'], checkpoint: 2 }));
  assert.equal(view.refreshes, before + 2, 'a file more');
  wired.server.become('stopped');
  assert.equal(view.refreshes, before + 3, 'the server stopped: this machine says so');
});

test('a task without a notified diff asks ctask.diff when expanded', async () => {
  wired.server.become('running');
  wired.server.handlers.leaseState(lease('old'));
  wired.server.reply(ServerCommand.diff, () => ({ name: 'old', live: false, added: [], modified: [], deleted: ['gone.txt'], checkpoint: 1 }));
  const view = mock.treeViews.get('ctask.tasks')!;
  const rows = ((await view.provider.getChildren({ kind: 'task', name: 'old' })) as unknown[]).map((f) => view.provider.getTreeItem(f));
  assert.deepEqual(rows.map((r) => [r.label, r.contextValue]), [['gone.txt', 'change.deleted']]);
  assert.deepEqual(wired.server.sent(ServerCommand.diff), [{ name: 'old' }]);
});
