import './setup';
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Command, ServerCommand } from '../src/constants';
import type { ServerHandlers, ServerState } from '../src/server';
import { type Wired, wire } from '../src/wiring';
import { FakeServer, diff, lease, owned, taskJson } from './fakes';
import { mock } from './mock/vscode';

/** A server whose notifications the test sends by hand. */
class FakeManagedServer extends FakeServer {
  started = 0;
  settingsSent = 0;
  disposed = false;
  constructor(readonly handlers: ServerHandlers) {
    super();
    this.state = 'starting';
  }
  start(): Promise<void> {
    this.started += 1;
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

test('activation starts the server and registers everything as a subscription', () => {
  assert.equal(wired.server.started, 1);
  assert.equal(item().text, '$(loading~spin) ctask');
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
