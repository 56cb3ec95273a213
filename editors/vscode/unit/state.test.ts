import './setup';
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskStore } from '../src/state';
import { diff, lease, owned, taskJson } from './fakes';

test('the current task is the one whose workspace holds an open folder', () => {
  const store = new TaskStore();
  store.applyLeaseState(lease('a'));
  store.applyLeaseState(lease('b'));
  store.setLastActed('a');
  assert.equal(store.current(['/home/u/.local/share/ctask/tasks/b/src'])?.name, 'b');
  assert.equal(store.current(['/home/u/.local/share/ctask/tasks/b'])?.name, 'b');
  // A sibling whose name only starts the same is not inside.
  assert.equal(store.current(['/home/u/.local/share/ctask/tasks/bb'])?.name, 'a');
});

test('else the current task is the last one acted on', () => {
  const store = new TaskStore();
  store.applyLeaseState(lease('a'));
  assert.equal(store.current(['/elsewhere']), undefined);
  store.setLastActed('a');
  assert.equal(store.current(['/elsewhere'])?.name, 'a');
  store.remove('a');
  assert.equal(store.current([]), undefined);
});

test('lease notifications replace the lease and notify listeners', () => {
  const store = new TaskStore();
  let changes = 0;
  store.onDidChange(() => changes++);
  store.applyLeaseState(owned('a'));
  store.applyLeaseState(lease('a'));
  assert.equal(store.get('a')?.lease.state, 'missing');
  assert.equal(store.get('a')?.owned_here, false);
  assert.equal(changes, 2);
});

test('a notification and a task object carry one lease shape: merged as they are, nothing flattened', () => {
  const store = new TaskStore();
  const task = taskJson('a', { state: 'stale', reason: 'pid 12 is gone', host: 'h', pid: 12 }, { description: 'd' });
  const view = store.applyTask(task);
  assert.deepEqual(view.lease, task.lease);
  assert.equal(view.owned_here, undefined, 'task objects do not say whether this server holds the lease');
  const note = owned('a', { state: 'fresh_local', pid: 77, host: 'h' });
  store.applyLeaseState(note);
  assert.deepEqual(store.get('a')?.lease, note.lease);
  assert.equal(store.get('a')?.description, 'd', 'what only task objects carry is kept');
  assert.equal(store.get('a')?.owned_here, true);
});

test('a list result drops tasks that are gone and keeps owned_here of the same session', () => {
  const store = new TaskStore();
  store.applyLeaseState(owned('a'));
  store.applyLeaseState(lease('gone'));
  store.applyList([taskJson('a', { state: 'fresh_local', session_id: 'box-4242-1700000000', host: 'box', pid: 4242 })]);
  assert.deepEqual(store.names(), ['a']);
  assert.equal(store.get('a')?.owned_here, true);
});

test('a final diff is dropped when a new session starts; a live one is kept', () => {
  const store = new TaskStore();
  store.applyDiff(diff('a', { final: true, added: ['x'] }));
  store.applyLeaseState(owned('a'));
  assert.equal(store.diff('a'), undefined);
  store.applyDiff(diff('a', { added: ['y'] }));
  store.applyLeaseState(owned('a', { state: 'stale' }));
  store.applyLeaseState(owned('a'));
  assert.deepEqual(store.diff('a')?.added, ['y']);
});

test('an ended session is remembered until the next one starts', () => {
  const store = new TaskStore();
  store.applyLeaseState(owned('a'));
  store.applySessionEnded('a', { end_reason: 'agent_exited', counts: { added: 1, modified: 0, deleted: 0 } });
  store.applyLeaseState(lease('a'));
  assert.equal(store.endedSummary('a')?.end_reason, 'agent_exited');
  assert.equal(store.get('a')?.last_summary?.end_reason, 'agent_exited');
  store.applyLeaseState(owned('a'));
  assert.equal(store.endedSummary('a'), undefined);
});

test('a removed task is forgotten', () => {
  const store = new TaskStore();
  store.applyLeaseState(lease('a'));
  store.setLastActed('a');
  store.applyLeaseState({ ...lease('a'), removed: true });
  assert.equal(store.get('a'), undefined);
  assert.equal(store.current([]), undefined);
});
