import './setup';
import * as assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { TaskStore } from '../src/state';
import { StatusBar, escapeMarkdown, formatAge, present } from '../src/statusBar';
import { lease, owned } from './fakes';
import { type MarkdownString, type ThemeColor, mock } from './mock/vscode';

const NOW = Date.parse('2025-01-01T00:01:00Z');

beforeEach(() => mock.reset());

test('a task owned by this server shows as owned, with host, pid and heartbeat age', () => {
  const p = present({ task: owned('fix', { heartbeat_at: '2025-01-01T00:00:57Z' }), server: 'running', now: NOW });
  assert.equal(p.text, '$(pulse) fix: owned');
  assert.equal(p.warning, false);
  assert.match(p.tooltip, /host box · pid 4242 · heartbeat 3s ago/);
  assert.match(p.tooltip, /agent: claude/);
  assert.match(p.tooltip, /Click for actions/);
});

test('stale and remote leases are warnings', () => {
  const stale = present({ task: owned('a', { state: 'stale', reason: 'heartbeat 40s old', owned_here: false }), server: 'running', now: NOW });
  assert.equal(stale.text, '$(warning) a: stale');
  assert.equal(stale.warning, true);
  assert.match(stale.tooltip, /reason: heartbeat 40s old/);
  const remote = present({ task: owned('a', { state: 'fresh_remote', host: 'other', owned_here: false }), server: 'running', now: NOW });
  assert.equal(remote.text, '$(remote) a: on other');
  assert.equal(remote.warning, true);
  const local = present({ task: owned('a', { owned_here: false, pid: 77 }), server: 'running', now: NOW });
  assert.equal(local.text, '$(person) a: in use');
  assert.match(local.tooltip, /in use by pid 77 on this host/);
});

test('idle, unowned and ended tasks', () => {
  assert.equal(present({ task: lease('a'), server: 'running', now: NOW }).text, '$(circle-outline) a: idle');
  assert.equal(present({ task: lease('a', { tmux_alive: true }), server: 'running', now: NOW }).text, '$(debug-disconnect) a: unowned');
  const ended = present({
    task: lease('a'),
    server: 'running',
    now: NOW,
    ended: { end_reason: 'agent_exited', exit_status: 0, counts: { added: 2, modified: 1, deleted: 0 } },
  });
  assert.equal(ended.text, '$(pass) a: ended +2 ~1 -0');
  assert.match(ended.tooltip, /last session: agent exited, exit status 0 \+2 ~1 -0/);
});

test('the server state comes first', () => {
  assert.equal(present({ task: owned('a'), server: 'starting', now: NOW }).text, '$(loading~spin) ctask');
  const stopped = present({ task: owned('a'), server: 'stopped', now: NOW });
  assert.equal(stopped.error, true);
  assert.match(stopped.tooltip, /not running/);
  assert.equal(present({ task: undefined, server: 'running', now: NOW }).text, '$(tasklist) ctask');
});

test('text from the server is not read as markdown', () => {
  const p = present({ task: owned('a', { workspace: '/srv/my_tasks/*a*', reason: '<b>x</b>' }), server: 'running', now: NOW });
  assert.match(p.tooltip, /workspace: \/srv\/my\\_tasks\/\\\*a\\\*/);
  assert.equal(escapeMarkdown('a_b [c](d) `e`'), 'a\\_b \\[c\\](d) \\`e\\`');
});

test('ages read well', () => {
  assert.equal(formatAge(3.7), '3s');
  assert.equal(formatAge(184), '3m 04s');
  assert.equal(formatAge(7500), '2h 05m');
});

test('the item follows the store: text, colour, tooltip and a command on every update', () => {
  const store = new TaskStore();
  const bar = new StatusBar(() => ({ task: store.current([]), server: 'running', now: Date.now() }));
  store.onDidChange(() => bar.update());
  const item = mock.statusBarItems[0];
  assert.equal(item.visible, true);
  assert.equal(item.command, 'ctask.statusActions');
  assert.equal(item.text, '$(tasklist) ctask');

  store.applyLeaseState(owned('fix'));
  store.setLastActed('fix');
  assert.equal(item.text, '$(pulse) fix: owned');
  assert.equal(item.backgroundColor, undefined);
  assert.match((item.tooltip as MarkdownString).value, /pid 4242/);

  store.applyLeaseState(owned('fix', { state: 'stale', owned_here: false }));
  assert.equal(item.text, '$(warning) fix: stale');
  assert.equal((item.backgroundColor as ThemeColor | undefined)?.id, 'statusBarItem.warningBackground');
  assert.equal(item.accessibilityInformation?.label, 'ctask task fix: stale');

  store.applyLeaseState(lease('fix'));
  assert.equal(item.text, '$(circle-outline) fix: idle');
  assert.equal(item.backgroundColor, undefined);
  bar.dispose();
  assert.equal(item.disposed, true);
});

test('a task on a git repository shows its branch, repository and worktree in the tooltip', () => {
  const task = { ...owned('fix'), repo: { path: '/src/app', branch: 'ctask/fix', base: 'main', base_ref: null, worktree: '/t/fix/app' } };
  const p = present({ task, server: 'running', now: NOW });
  assert.match(p.tooltip, /\$\(git-branch\) branch ctask\/fix from main · repository \/src\/app/);
  assert.match(p.tooltip, /worktree: \/t\/fix\/app/);
  assert.doesNotMatch(present({ task: owned('plain'), server: 'running', now: NOW }).tooltip, /branch/);
  const sha = 'b954b214476dd15d3bcafaae7f8492e56e68e56d';
  const fromHead = present({ task: { ...task, repo: { ...task.repo, base: sha, base_ref: 'HEAD' } }, server: 'running', now: NOW });
  assert.match(fromHead.tooltip, /branch ctask\/fix from HEAD \(b954b21447\) · repository/);
});

test('activity follows the lease; needs_input takes over the item in the warning colour', () => {
  const since = '2025-01-01T00:00:48Z';
  const working = present({
    task: { ...owned('fix'), activity: { state: 'working', since, source: 'hook' }, conversation_id: 'c1' },
    server: 'running',
    now: NOW,
  });
  assert.equal(working.text, '$(pulse) fix: owned · working');
  assert.equal(working.warning, false);
  assert.match(working.tooltip, /agent working for 12s \(its hooks say\)/);
  const waiting = present({
    task: { ...owned('fix'), activity: { state: 'needs_input', since, source: 'hook', message: 'permission to use Bash' } },
    server: 'running',
    now: NOW,
  });
  assert.equal(waiting.text, '$(bell-dot) fix: needs input');
  assert.equal(waiting.warning, true);
  assert.equal(waiting.label, 'ctask task fix: owned, agent needs input');
  assert.match(waiting.tooltip, /agent needs input for 12s: permission to use Bash/);
  assert.match(waiting.tooltip, /choose Attach/);
  const idle = present({ task: { ...owned('fix'), activity: { state: 'idle', since, source: 'output' } }, server: 'running', now: NOW });
  assert.equal(idle.text, '$(pulse) fix: owned · idle');
  assert.match(idle.tooltip, /from its output/);
});

test('the status bar item turns to the warning background while the agent waits', () => {
  const store = new TaskStore();
  store.applyLeaseState(owned('fix'));
  store.setLastActed('fix');
  const bar = new StatusBar(() => ({ task: store.current([]), server: 'running', now: NOW }));
  store.applyActivity({ name: 'fix', workspace: '/w/fix', activity: { state: 'needs_input', since: '2025-01-01T00:00:50Z', source: 'hook' }, conversation_id: null });
  bar.update();
  const item = mock.statusBarItems[0];
  assert.equal(item.text, '$(bell-dot) fix: needs input');
  assert.equal((item.backgroundColor as ThemeColor).id, 'statusBarItem.warningBackground');
  // a lease notification after it keeps the activity
  store.applyLeaseState(owned('fix', { age_s: 0.1 }));
  bar.update();
  assert.equal(item.text, '$(bell-dot) fix: needs input');
  store.applyActivity({ name: 'fix', workspace: '/w/fix', activity: { state: 'working', since: '2025-01-01T00:00:55Z', source: 'hook' }, conversation_id: null });
  bar.update();
  assert.equal(item.text, '$(pulse) fix: owned · working');
  assert.equal(item.backgroundColor, undefined);
});
