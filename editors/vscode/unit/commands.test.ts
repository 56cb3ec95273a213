import './setup';
import * as assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { Commands } from '../src/commands';
import { Command, ServerCommand } from '../src/constants';
import { ServerError } from '../src/errors';
import type { LaunchResult } from '../src/protocol';
import { askModal } from '../src/questions';
import { TaskStore } from '../src/state';
import * as api from '../src/vscodeapi';
import { FakeServer, diff, lease, owned, taskJson } from './fakes';
import { type FakeOutputChannel, type Uri, mock } from './mock/vscode';

let server: FakeServer;
let store: TaskStore;
let commands: Commands;
let logChannel: FakeOutputChannel;

const TERMINAL = {
  name: 'ctask: fix',
  command: 'tmux',
  args: ['-L', 'ctask', 'attach-session', '-t', '=ctask-fix'],
  cwd: '/home/u/.local/share/ctask/tasks/fix',
  env: { TMUX: '' },
};

/** What the server returns for a launching command. */
function launch(name: string, action: LaunchResult['action'] = 'launched'): LaunchResult {
  return {
    task: name,
    action,
    session: { session_id: 's1', tmux_session: `ctask-${name}`, lease: { state: 'fresh_local', session_id: 's1', host: 'box', pid: 4242 } },
    terminal: { ...TERMINAL, name: `ctask: ${name}`, cwd: `/home/u/.local/share/ctask/tasks/${name}` },
  };
}

/** Let pending promise callbacks (message follow-ups) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function labels(i = -1): string[] {
  return mock.quickPicks.at(i)!.items.map((item) => String(item.label));
}

beforeEach(() => {
  mock.reset();
  server = new FakeServer();
  store = new TaskStore();
  logChannel = api.createOutputChannel('ctask sessions') as unknown as FakeOutputChannel;
  commands = new Commands({ server, store, folders: () => mock.folders, logChannel: logChannel as unknown as api.OutputChannel });
  commands.register();
});

test('every palette command is registered', () => {
  for (const id of Object.values(Command).filter((c) => c !== Command.openChange)) {  // the view's, in wiring
    assert.ok(mock.commands.has(id), id);
  }
});

test('New Task validates the name in the input box, sends ctask.new and opens the terminal', async () => {
  store.applyLeaseState(lease('taken'));
  const verdicts: unknown[] = [];
  mock.answer.inputBox = (options) => {
    verdicts.push(...['bad name', 'taken', 'fix'].map((v) => options.validateInput?.(v)));
    return 'fix';
  };
  server.reply(ServerCommand.new, () => launch('fix'));
  await api.executeCommand(Command.newTask);
  assert.match(String(verdicts[0]), /not allowed/);
  assert.match(String(verdicts[1]), /exists/);
  assert.equal(verdicts[2], undefined);
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 'fix' }]);
  assert.equal(mock.terminals.length, 1);
  const t = mock.terminals[0];
  assert.deepEqual(
    { name: t.creationOptions.name, shellPath: t.creationOptions.shellPath, shellArgs: t.creationOptions.shellArgs, cwd: t.creationOptions.cwd, env: t.creationOptions.env },
    { name: 'ctask: fix', shellPath: 'tmux', shellArgs: TERMINAL.args, cwd: TERMINAL.cwd, env: { TMUX: '' } },
  );
  assert.equal(t.shown, 1);
  assert.equal(store.lastActedName, 'fix');
  assert.equal(store.current([])?.name, 'fix');
});

test('New Task cancelled in the input box sends nothing', async () => {
  await api.executeCommand(Command.newTask);
  assert.equal(server.calls.length, 0);
  assert.equal(mock.messages.length, 0);
});

test('New Task with a name argument validates it before sending', async () => {
  await api.executeCommand(Command.newTask, { name: '../etc' });
  assert.equal(server.calls.length, 0);
  assert.equal(mock.messages[0].kind, 'error');
  assert.match(mock.messages[0].message, /^ctask: A task name starts with a letter or a digit/);
  server.reply(ServerCommand.new, () => launch('x'));
  await api.executeCommand(Command.newTask, { name: 'x', agent: 'aider', description: 'try aider' });
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 'x', agent: 'aider', description: 'try aider' }]);
});

test('a server error is one error line', async () => {
  mock.answer.inputBox = () => 'fix';
  server.reply(ServerCommand.new, () => {
    throw new ServerError("agent command 'claude' not found on PATH:\n  install it or set agent.command", 'AgentNotFound');
  });
  await api.executeCommand(Command.newTask);
  assert.equal(mock.messages.length, 1);
  assert.equal(mock.messages[0].kind, 'error');
  assert.equal(mock.messages[0].message, "ctask: agent command 'claude' not found on PATH: install it or set agent.command");
  assert.equal(mock.terminals.length, 0);
});

test('TaskExists offers Resume', async () => {
  mock.answer.inputBox = () => 'fix';
  mock.answer.message = (m) => (m.kind === 'error' ? 'Resume' : undefined);
  server.reply(ServerCommand.new, () => {
    throw new ServerError('task fix exists', 'TaskExists');
  });
  server.reply(ServerCommand.resume, () => launch('fix'));
  await api.executeCommand(Command.newTask);
  await settle();
  assert.deepEqual(mock.messages[0].items, ['Resume']);
  assert.deepEqual(server.sent(ServerCommand.resume), [{ name: 'fix' }]);
  assert.equal(mock.terminals.length, 1);
});

test('Resume Task picks from the tasks with their lease state, the current one first', async () => {
  mock.folders = ['/home/u/.local/share/ctask/tasks/b'];
  server.reply(ServerCommand.list, () => [
    taskJson('a', { state: 'stale', reason: 'owner pid 9 is gone' }),
    taskJson('b'),
    taskJson('c', { state: 'fresh_remote', host: 'far' }),
  ]);
  server.reply(ServerCommand.resume, () => launch('a'));
  mock.answer.quickPick = (items) => items.find((i) => i.name === 'a');
  await api.executeCommand(Command.resumeTask);
  // The current task, then running ones, then the rest.
  assert.deepEqual(labels(), ['$(circle-outline) b', '$(remote) c', '$(warning) a']);
  const descriptions = mock.quickPicks[0].items.map((i) => i.description);
  assert.deepEqual(descriptions, ['idle (current)', 'on far', 'stale']);
  assert.equal(mock.quickPicks[0].items[2].detail, 'owner pid 9 is gone');
  assert.deepEqual(server.sent(ServerCommand.resume), [{ name: 'a' }]);
  assert.equal(mock.terminals[0].name, 'ctask: a');
});

test('a picker with no tasks says what to do', async () => {
  server.reply(ServerCommand.list, () => []);
  await api.executeCommand(Command.resumeTask);
  assert.equal(mock.quickPicks.length, 0);
  assert.match(mock.messages[0].message, /no tasks yet: run "ctask: New Task"/);
});

test('Resume Last sends ctask.last and opens its terminal', async () => {
  server.reply(ServerCommand.last, () => launch('z'));
  await api.executeCommand(Command.resumeLast);
  assert.deepEqual(server.sent(ServerCommand.last), [{}]);
  assert.equal(store.lastActedName, 'z');
  assert.equal(mock.terminals[0].name, 'ctask: z');
});

test('Attach offers only running tasks and reuses a live terminal of the same name', async () => {
  server.reply(ServerCommand.list, () => [taskJson('idle'), taskJson('run', { state: 'fresh_local' })]);
  server.reply(ServerCommand.attach, () => launch('run'));
  mock.answer.quickPick = (items) => items[0];
  await api.executeCommand(Command.attach);
  assert.deepEqual(labels(), ['$(pulse) run']);
  await api.executeCommand(Command.attach, 'run');
  assert.equal(mock.terminals.length, 1);
  assert.equal(mock.terminals[0].shown, 2);
  mock.terminals[0].exitStatus = { code: 0 };
  await api.executeCommand(Command.attach, 'run');
  assert.equal(mock.terminals.length, 2);
});

test('a passive attach says who owns the session', async () => {
  server.reply(ServerCommand.attach, () => ({ ...launch('run', 'passive'), session: { session_id: null, lease: { state: 'fresh_local', pid: 77, host: 'box' } } }));
  await api.executeCommand(Command.attach, 'run');
  assert.equal(mock.messages[0].message, 'ctask: task run is owned by another process (pid 77 on box); attaching without taking it over');
  assert.equal(mock.terminals.length, 1);
});

test('Attach to a task with no session offers Resume', async () => {
  server.reply(ServerCommand.attach, () => {
    throw new ServerError('task a has no running session', 'NoSession');
  });
  await api.executeCommand(Command.attach, 'a');
  await settle();
  assert.equal(mock.messages[0].message, 'ctask: task a has no running session');
  assert.deepEqual(mock.messages[0].items, ['Resume']);
});

test('Show Changes lists the ctask/diff files and opens the chosen one in the diff editor against the checkpoint', async () => {
  store.applyLeaseState(owned('fix'));
  store.applyDiff(diff('fix', { added: ['new.txt'], modified: ['src/app.py'], deleted: ['old.txt'], checkpoint: 3 }));
  server.reply(ServerCommand.fileAt, (a) => ({ name: 'fix', path: a.path, checkpoint: { n: 3 }, content: `old ${String(a.path)}\n` }));
  mock.answer.quickPick = (items) => items.find((i) => i.file === 'src/app.py');
  const title = await commands.showChanges('fix');
  assert.deepEqual(server.sent(ServerCommand.fileAt), [{ name: 'fix', path: 'src/app.py', checkpoint: '3' }]);
  assert.deepEqual(labels(), ['Added (1)', '$(diff-added) new.txt', 'Modified (1)', '$(diff-modified) src/app.py', 'Deleted (1)', '$(diff-removed) old.txt']);
  assert.match(String(mock.quickPicks[0].options.title), /changes of fix since its session started \(\+1 ~1 -1\)/);
  assert.equal(title, 'app.py (fix: checkpoint 3 ↔ now)');
  const [left, right, shown] = mock.executed.find(([id]) => id === 'vscode.diff')![1] as [Uri, Uri, string];
  assert.equal(String(left), 'ctask-checkpoint:/src/app.py?task=fix&checkpoint=3');
  assert.equal(String(right), 'file:/home/u/.local/share/ctask/tasks/fix/src/app.py');
  assert.equal(shown, title);
  assert.equal(mock.openedFiles.length, 0);
});

test('Show Changes asks the server when no diff was notified', async () => {
  store.applyLeaseState(lease('a'));
  server.reply(ServerCommand.diff, () => ({ live: false, added: [], modified: [], deleted: [], counts: { added: 0, modified: 0, deleted: 0 } }));
  await commands.showChanges('a');
  assert.deepEqual(server.sent(ServerCommand.diff), [{ name: 'a' }]);
  assert.equal(mock.messages[0].message, 'ctask: task a has no changes in its last session');
});

test('Stop sends ctask.stop and reports the summary', async () => {
  server.reply(ServerCommand.stop, () => ({ stopped: true, summary: { end_reason: 'stopped', counts: { added: 0, modified: 2, deleted: 0 } } }));
  await api.executeCommand(Command.stop, 'fix');
  assert.deepEqual(server.sent(ServerCommand.stop), [{ name: 'fix' }]);
  assert.equal(mock.messages[0].message, 'ctask: task fix ended: stopped, changes +0 ~2 -0');
});

test('Show Log writes one line per session', async () => {
  server.reply(ServerCommand.log, () => [
    { ended_at: '2025-01-01T00:00:09Z', session_id: 'h-1-2', end_reason: 'agent_exited', exit_status: 0, session_ownership: 'owned', duration_s: 9, counts: { added: 1, modified: 0, deleted: 0 } },
  ]);
  await api.executeCommand(Command.showLog, 'fix');
  assert.deepEqual(logChannel.lines, ['── task fix: 1 finished session', '2025-01-01T00:00:09Z  h-1-2  agent_exited exit 0  owned  9s  +1 ~0 -0']);
  assert.equal(logChannel.shown, true);
});

test('Open Task Folder opens the returned folder in a new window when one is open', async () => {
  mock.folders = ['/proj'];
  server.reply(ServerCommand.open, () => ({ task: 'fix', workspace: '/home/u/.local/share/ctask/tasks/fix', uri: 'file:///home/u/.local/share/ctask/tasks/fix' }));
  await api.executeCommand(Command.openTaskFolder, 'fix');
  assert.deepEqual(mock.openedFolders, [{ path: '/home/u/.local/share/ctask/tasks/fix', newWindow: true }]);
});

test('Open Task Folder of a repo task opens its worktree', async () => {
  server.reply(ServerCommand.open, () => ({ task: 'r', workspace: '/t/r', folder: '/t/r/app', uri: 'file:///t/r/app' }));
  await api.executeCommand(Command.openTaskFolder, 'r');
  assert.deepEqual(mock.openedFolders, [{ path: '/t/r/app', newWindow: false }]);
});

test('Remove Task checks first (dry_run): a busy task is said before any question, and forced only after asking', async () => {
  store.applyLeaseState(lease('fix'));
  server.reply(ServerCommand.remove, (args) => {
    if (!args.force) {
      throw new ServerError('task fix has a running session; stop it first or use force', 'TaskBusy', { reason: 'running' });
    }
    return { removed: 'fix' };
  });
  mock.answer.message = (m) => (m.modal ? (m.items[0] as { title: string }) : undefined);
  assert.equal(await commands.removeTask('fix'), true);
  assert.deepEqual(server.sent(ServerCommand.remove), [{ name: 'fix', dry_run: true }, { name: 'fix', force: true }]);
  assert.equal(mock.messages[0].modal, true);
  assert.equal(mock.messages[0].message, 'task fix has a running session; stop it first or use force. Remove it anyway?');
  assert.equal(store.get('fix'), undefined);
});

test('Remove Task of a removable task asks once; cancelled, it removes nothing', async () => {
  server.reply(ServerCommand.remove, (args) => (args.dry_run ? { task: 'fix', removable: true } : { removed: 'fix' }));
  mock.answer.message = () => undefined;
  assert.equal(await commands.removeTask('fix'), false);
  assert.deepEqual(server.sent(ServerCommand.remove), [{ name: 'fix', dry_run: true }]);
  assert.match(mock.messages[0].message, /^Remove task fix and its workspace folder\?/);
  mock.answer.message = (m) => (m.modal ? 'Remove' : undefined);
  assert.equal(await commands.removeTask('fix'), true);
  assert.deepEqual(server.sent(ServerCommand.remove).slice(1), [{ name: 'fix', dry_run: true }, { name: 'fix' }]);
});

test('the status item offers the current task actions', async () => {
  store.applyLeaseState(owned('fix'));
  store.setLastActed('fix');
  server.reply(ServerCommand.stop, () => ({ stopped: true }));
  mock.answer.quickPick = (items) => items.find((i) => String(i.label).includes('Stop'));
  await api.executeCommand(Command.statusActions);
  assert.deepEqual(labels().slice(0, 5), ['$(terminal) Attach', '$(debug-stop) Stop', '$(diff) Show Changes', '$(history) Show Log', '$(folder-opened) Open Task Folder']);
  assert.ok(labels().includes('$(add) New Task'));
  assert.deepEqual(server.sent(ServerCommand.stop), [{ name: 'fix' }]);
});

test('with no current task the status item offers the global actions; Restart Server first when stopped', async () => {
  server.state = 'stopped';
  mock.answer.quickPick = (items) => items[0];
  await api.executeCommand(Command.statusActions);
  assert.equal(labels()[0], '$(debug-restart) Restart Server');
  assert.equal(server.restarts, 1);
});

test('a session end is announced with follow-ups', async () => {
  store.applyLeaseState(lease('fix'));
  mock.answer.message = () => 'Show Changes';
  server.reply(ServerCommand.diff, () => ({ added: ['a.txt'], modified: [], deleted: [] }));
  commands.sessionEnded({ name: 'fix', summary: { end_reason: 'agent_exited', exit_status: 0, counts: { added: 1, modified: 0, deleted: 0 } } });
  await settle();
  assert.equal(mock.messages[0].message, 'ctask: task fix ended: agent exited (exit status 0), changes +1 ~0 -0');
  assert.deepEqual(mock.messages[0].items, ['Show Changes', 'Show Log']);
  assert.equal(store.endedSummary('fix')?.exit_status, 0);
  assert.equal(mock.quickPicks.length, 1);
});

test('the adoption question is a modal with Adopt and Cancel', async () => {
  mock.answer.message = () => 'Adopt';
  const params = { type: 2, message: 'task fix is held by host far (pid 7); adopt it?', actions: [{ title: 'Adopt' }, { title: 'Cancel' }] };
  assert.deepEqual(await askModal(params), { title: 'Adopt' });
  const m = mock.messages[0];
  assert.equal(m.modal, true);
  assert.equal(m.kind, 'warning');
  assert.deepEqual(m.items, [{ title: 'Adopt' }, { title: 'Cancel', isCloseAffordance: true }]);
  mock.answer.message = () => 'Cancel';
  assert.deepEqual(await askModal(params), { title: 'Cancel' });
  mock.answer.message = () => undefined;
  assert.equal(await askModal(params), null);
});

// --- New Task from This Repository ----------------------------------------------

/** A launch on a repository: the terminal's cwd is the task's worktree. */
function launchRepo(name: string): LaunchResult {
  const result = launch(name);
  result.terminal.cwd = `/home/u/.local/share/ctask/tasks/${name}/worktree`;
  return result;
}

function repoStatus(name: string, branch: string, path = '/src/app') {
  return taskJson(name, { state: 'fresh_local', pid: 4242, host: 'box' }, {
    repo: { path, branch, base: 'HEAD', base_ref: 'HEAD', worktree: `/home/u/.local/share/ctask/tasks/${name}/worktree` },
  });
}

test('New Task from This Repository: the active editor folder, name, default branch, ctask.new with repo', async () => {
  mock.folders = ['/src/lib', '/src/app'];
  mock.activeFile = '/src/app/main.py';
  const prompts: Record<string, unknown>[] = [];
  const verdicts: unknown[] = [];
  mock.answer.inputBox = (options) => {
    prompts.push(options);
    if (prompts.length === 1) {
      verdicts.push(options.validateInput?.('no/good'));
      return 'fix';
    }
    verdicts.push(...['has space', '-x', 'a..b', 'ok/branch', ''].map((v) => options.validateInput?.(v)));
    return '';
  };
  server.reply(ServerCommand.new, () => launchRepo('fix'));
  server.reply(ServerCommand.status, () => repoStatus('fix', 'ctask/fix'));
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.quickPicks.length, 0);
  assert.equal(prompts[0].title, 'ctask: New Task from This Repository');
  assert.match(String(prompts[0].prompt), /git repository of \/src\/app/);
  assert.match(String(verdicts[0]), /"\/" is not allowed/);
  assert.equal(prompts[1].placeHolder, 'ctask/fix');
  assert.match(String(prompts[1].prompt), /Enter: ctask\/fix/);
  assert.match(String(verdicts[1]), /no spaces/);
  assert.match(String(verdicts[2]), /does not start with "-"/);
  assert.match(String(verdicts[3]), /no "\.\."/);
  assert.deepEqual(verdicts.slice(4), [undefined, undefined]);
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 'fix', repo: '/src/app' }]);
  assert.equal(mock.terminals.length, 1);
  assert.equal(mock.terminals[0].creationOptions.cwd, '/home/u/.local/share/ctask/tasks/fix/worktree');
  assert.deepEqual(server.sent(ServerCommand.status), [{ name: 'fix' }]);
  assert.equal(store.get('fix')?.repo?.branch, 'ctask/fix');
  // The workspace is the task's, not the worktree the terminal runs in.
  assert.equal(store.get('fix')?.workspace, '/home/u/.local/share/ctask/tasks/fix');
  assert.equal(store.lastActedName, 'fix');
});

test('New Task from This Repository sends the branch typed, and the only folder without asking which', async () => {
  mock.folders = ['/src/app'];
  const answers = ['feat', ' feature/login '];
  mock.answer.inputBox = () => answers.shift();
  server.reply(ServerCommand.new, () => launchRepo('feat'));
  server.reply(ServerCommand.status, () => repoStatus('feat', 'feature/login'));
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.quickPicks.length, 0);
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 'feat', repo: '/src/app', branch: 'feature/login' }]);
  assert.equal(store.get('feat')?.repo?.branch, 'feature/login');
});

test('New Task from This Repository asks which folder when several are open and no editor is in one', async () => {
  mock.folders = ['/src/lib', '/src/app'];
  mock.activeFile = '/tmp/scratch.txt';
  mock.answer.quickPick = (items) => items.find((i) => i.folder === '/src/lib');
  const answers = ['t2', ''];
  mock.answer.inputBox = () => answers.shift();
  server.reply(ServerCommand.new, () => {
    store.applyLeaseState(owned('t2'));
    return launchRepo('t2');
  });
  server.reply(ServerCommand.status, () => {
    throw new ServerError('gone', 'TaskNotFound');
  });
  await api.executeCommand(Command.newTaskFromRepository);
  assert.deepEqual(mock.quickPicks[0].items.map((i) => i.description), ['/src/lib', '/src/app']);
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 't2', repo: '/src/lib' }]);
  // The status poll failed: the branch is still known from the launch (the lease notification made the task known).
  assert.deepEqual(store.get('t2')?.repo, { path: '/src/lib', branch: 'ctask/t2', base: null, base_ref: null, worktree: '/home/u/.local/share/ctask/tasks/t2/worktree' });
  assert.equal(mock.messages.length, 0);
});

test('New Task from This Repository cancelled at the folder, the name or the branch sends nothing', async () => {
  mock.folders = ['/a', '/b'];
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.inputBoxes.length, 0);
  mock.folders = ['/a'];
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.inputBoxes.length, 1);
  const answers: (string | undefined)[] = ['x', undefined];
  mock.answer.inputBox = () => answers.shift();
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.inputBoxes.length, 3);
  assert.equal(server.calls.length, 0);
  assert.equal(mock.messages.length, 0);
});

test('New Task from This Repository with no folder open says to open one', async () => {
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(server.calls.length, 0);
  assert.equal(mock.inputBoxes.length, 0);
  assert.equal(mock.messages.length, 1);
  assert.equal(mock.messages[0].kind, 'error');
  assert.match(mock.messages[0].message, /^ctask: no folder is open: open a folder inside a git repository/);
});

test('a GitError is one error line and opens no terminal', async () => {
  mock.folders = ['/tmp/plain'];
  const answers = ['x', ''];
  mock.answer.inputBox = () => answers.shift();
  server.reply(ServerCommand.new, () => {
    throw new ServerError('/tmp/plain is not in a git repository:\n run git init there or open a folder inside a repository', 'GitError', {
      kind: 'GitError',
      reason: 'not_a_repository',
    });
  });
  await api.executeCommand(Command.newTaskFromRepository);
  assert.equal(mock.messages.length, 1);
  assert.equal(mock.messages[0].kind, 'error');
  assert.equal(mock.messages[0].message, 'ctask: /tmp/plain is not in a git repository: run git init there or open a folder inside a repository');
  assert.equal(mock.terminals.length, 0);
  assert.equal(server.sent(ServerCommand.status).length, 0);
});

test('New Task from This Repository with arguments asks nothing', async () => {
  server.reply(ServerCommand.new, () => launchRepo('k'));
  server.reply(ServerCommand.status, () => repoStatus('k', 'wip/k', '/r'));
  await api.executeCommand(Command.newTaskFromRepository, { name: 'k', repo: '/r/sub', base: 'v1.0' });
  assert.equal(mock.inputBoxes.length, 0);
  assert.deepEqual(server.sent(ServerCommand.new), [{ name: 'k', repo: '/r/sub', base: 'v1.0' }]);
  assert.equal(store.get('k')?.repo?.path, '/r');
});

test('the repo survives lease notifications; pickers show the branch; the status item offers the repo command', async () => {
  store.applyList([repoStatus('fix', 'ctask/fix')]);
  store.applyLeaseState(owned('fix'));
  assert.equal(store.get('fix')?.repo?.branch, 'ctask/fix');
  server.reply(ServerCommand.list, () => [repoStatus('fix', 'ctask/fix'), taskJson('plain')]);
  await api.executeCommand(Command.resumeTask);
  const details = new Map(mock.quickPicks[0].items.map((i) => [i.name, i.detail]));
  assert.equal(details.get('fix'), '$(git-branch) ctask/fix');
  assert.equal(details.get('plain'), undefined);
  mock.folders = ['/src/app'];
  await api.executeCommand(Command.statusActions);
  assert.ok(labels().includes('$(git-branch) New Task from This Repository'));
});

test('Remove Task of a repo task: a dirty worktree is said first, and forcing can delete the branch too', async () => {
  store.applyList([repoStatus('fix', 'ctask/fix')]);
  const sent: Record<string, unknown>[] = [];
  server.reply(ServerCommand.remove, (args) => {
    sent.push(args);
    if (!args.force) {
      throw new ServerError('the worktree of task fix has uncommitted changes: commit them or remove with force', 'GitError', { reason: 'dirty' });
    }
    return { removed: 'fix', warnings: ['branch ctask/fix had 2 commits\n no other branch has'], branch: 'ctask/fix', branch_deleted: true };
  });
  mock.answer.message = (m) => (m.modal ? (m.items.at(-2) as { title: string }) : undefined);
  assert.equal(await commands.removeTask('fix'), true);
  assert.match(mock.messages[0].message, /uncommitted changes.*Remove it anyway\?/);
  assert.deepEqual(mock.messages[0].items.map((i) => (i as { title: string }).title), ['Remove Anyway', 'Remove Anyway and Delete Branch', 'Cancel']);
  assert.deepEqual(sent, [
    { name: 'fix', dry_run: true },
    { name: 'fix', delete_branch: true, force: true },
  ]);
  assert.deepEqual(
    mock.messages.slice(1).map((m) => [m.kind, m.message]),
    [
      ['info', 'ctask: removed task fix and branch ctask/fix'],
      ['warning', 'ctask: branch ctask/fix had 2 commits no other branch has'],
    ],
  );
  assert.equal(store.get('fix'), undefined);
});

test('Remove Task of a clean repo task asks about its branch', async () => {
  store.applyList([repoStatus('fix', 'ctask/fix')]);
  server.reply(ServerCommand.remove, (args) => (args.dry_run ? { task: 'fix', removable: true, branch: 'ctask/fix' } : { removed: 'fix', branch: 'ctask/fix', branch_deleted: false }));
  mock.answer.message = (m) => (m.modal ? 'Remove' : undefined);
  assert.equal(await commands.removeTask('fix'), true);
  assert.match(mock.messages[0].message, /its commits stay on branch ctask\/fix/);
  assert.deepEqual(mock.messages[0].items.map((i) => (i as { title: string }).title), ['Remove', 'Remove and Delete Branch ctask/fix', 'Cancel']);
  assert.deepEqual(server.sent(ServerCommand.remove), [{ name: 'fix', dry_run: true }, { name: 'fix' }]);
});

test('another GitError of remove is an error line, not a force question', async () => {
  store.applyList([repoStatus('fix', 'ctask/fix')]);
  server.reply(ServerCommand.remove, () => {
    throw new ServerError('git failed: fatal: bad object', 'GitError', { reason: 'failed' });
  });
  mock.answer.message = (m) => (m.modal ? 'Remove' : undefined);
  assert.equal(await api.executeCommand(Command.removeTask, 'fix'), undefined);
  assert.equal(mock.messages.length, 1); // the check failed: no question, one error line
  assert.equal(mock.messages[0].message, 'ctask: git failed: fatal: bad object');
  assert.ok(store.get('fix'));
});

test('a repo session end says what happened on its branch', () => {
  commands.sessionEnded({
    name: 'fix',
    summary: {
      end_reason: 'agent_exited',
      exit_status: 0,
      counts: { added: 1, modified: 0, deleted: 0 },
      git: { branch: 'ctask/fix', commits: [{ sha: 'abc', subject: 'one' }, { sha: 'def', subject: 'two' }], committed: [], uncommitted: [{ status: 'M', path: 'a' }] },
    },
  });
  assert.equal(
    mock.messages[0].message,
    'ctask: task fix ended: agent exited (exit status 0), changes +1 ~0 -0; branch ctask/fix: 2 commits, 1 uncommitted change',
  );
  commands.sessionEnded({ name: 'g', summary: { end_reason: 'stopped', git: { error: 'git log failed' } } });
  assert.equal(mock.messages[1].message, 'ctask: task g ended: stopped');
  // The lists stop at 500 entries: the counts are the full numbers.
  const many = Array.from({ length: 500 }, (_, i) => ({ sha: `s${i}`, subject: 'x' }));
  commands.sessionEnded({ name: 'h', summary: { end_reason: 'stopped', git: { branch: 'b', commits: many, counts: { commits: 731, uncommitted: 0 } } } });
  assert.equal(mock.messages[2].message, 'ctask: task h ended: stopped; branch b: 731 commits');
});

// --- Show Changes of a repo task: git's view --------------------------------------

const WORKTREE = '/home/u/.local/share/ctask/tasks/fix/worktree';

function gitView() {
  return {
    repo: '/src/app',
    branch: 'ctask/fix',
    worktree: WORKTREE,
    base: '0123456789abcdef0123',
    head: 'fedcba9876543210fedc',
    commits: [
      { sha: 'fedcba9876543210fedc', subject: 'fix the login' },
      { sha: 'aaaabbbbccccddddeeee', subject: 'add a test' },
    ],
    committed: [
      { status: 'A', path: 'tests/test_login.py' },
      { status: 'M', path: 'src/login.py' },
      { status: 'D', path: 'src/old.py' },
    ],
    uncommitted: [{ status: '??', path: 'notes.txt' }],
    counts: { commits: 2, committed: 3, uncommitted: 1 },
  };
}

test('Show Changes of a repo task: the notified diff lacks git, ctask.diff gives the commits, committed and uncommitted files', async () => {
  store.applyTask(repoStatus('fix', 'ctask/fix'));
  store.applyDiff(diff('fix', { added: ['worktree/notes.txt'] }));
  server.reply(ServerCommand.diff, () => ({
    name: 'fix',
    live: true,
    added: ['worktree/notes.txt'],
    modified: [],
    deleted: [],
    git: gitView(),
  }));
  mock.answer.quickPick = (items) => items.find((i) => i.file === 'src/login.py');
  const opened = await commands.showChanges('fix');
  assert.deepEqual(server.sent(ServerCommand.diff), [{ name: 'fix' }]);
  assert.deepEqual(labels(), [
    'Added (1)',
    '$(diff-added) worktree/notes.txt',
    'Commits on ctask/fix since 0123456789 (2)',
    '$(git-commit) fix the login',
    '$(git-commit) add a test',
    'Committed vs base (3)',
    'tests/test_login.py',
    'src/login.py',
    'src/old.py',
    'Uncommitted (1)',
    'notes.txt',
  ]);
  const items = mock.quickPicks[0].items;
  assert.deepEqual(
    items.filter((i) => i.description !== undefined).map((i) => i.description),
    ['fedcba9876', 'aaaabbbbcc', 'A', 'M', 'D', '??'],
  );
  assert.equal(opened, `${WORKTREE}/src/login.py`);
  assert.deepEqual(mock.openedFiles, [opened]);

  // An uncommitted file opens under the worktree too; a commit or a deleted file opens nothing.
  mock.answer.quickPick = (items) => items.find((i) => i.label === 'notes.txt');
  assert.equal(await commands.showChanges('fix'), `${WORKTREE}/notes.txt`);
  mock.answer.quickPick = (items) => items.find((i) => i.label === '$(git-commit) fix the login');
  assert.equal(await commands.showChanges('fix'), undefined);
  mock.answer.quickPick = (items) => items.find((i) => i.label === 'src/old.py');
  assert.equal(await commands.showChanges('fix'), undefined);
  assert.match(mock.messages.at(-1)!.message, /src\/old.py was deleted/);
  assert.deepEqual(mock.openedFiles, [`${WORKTREE}/src/login.py`, `${WORKTREE}/notes.txt`]);
});

test('Show Changes of a repo task with git in the stored diff: no server call; only git changes still list', async () => {
  store.applyTask(repoStatus('fix', 'ctask/fix'));
  const git = { ...gitView(), commits: [], committed: [], counts: { commits: 0, committed: 0, uncommitted: 1 } };
  store.applyDiff(diff('fix', { final: true, git }));
  mock.answer.quickPick = () => undefined;
  await commands.showChanges('fix');
  assert.equal(server.calls.length, 0);
  assert.deepEqual(labels(), ['Uncommitted (1)', 'notes.txt']);
});

test("Show Changes of a repo task: git's error is one separator", async () => {
  store.applyTask(repoStatus('fix', 'ctask/fix'));
  server.reply(ServerCommand.diff, () => ({
    live: false,
    added: ['a.txt'],
    modified: [],
    deleted: [],
    git: { repo: '/src/app', branch: 'ctask/fix', worktree: WORKTREE, base: '0123', error: 'fatal: not a git repository\nmore' },
  }));
  mock.answer.quickPick = () => undefined;
  await commands.showChanges('fix');
  assert.deepEqual(labels(), ['Added (1)', '$(diff-added) a.txt', "Git's view is unavailable: fatal: not a git repository more"]);
  assert.equal(mock.quickPicks[0].items.at(-1)!.kind, -1);
});

test('a task that starts waiting for the user is announced with Attach and Show Changes, once', async () => {
  store.applyLeaseState(owned('fix'));
  mock.answer.message = () => 'Attach';
  server.reply(ServerCommand.attach, () => launch('fix', 'owned'));
  const since = '2025-01-01T00:00:00Z';
  commands.activity({ name: 'fix', workspace: '/w/fix', activity: { state: 'working', since, source: 'hook' }, conversation_id: 'c1' });
  commands.activity({
    name: 'fix',
    workspace: '/w/fix',
    activity: { state: 'needs_input', since, source: 'hook', message: 'permission to use Bash' },
    conversation_id: 'c1',
  });
  await settle();
  assert.equal(mock.messages.length, 1);
  assert.equal(mock.messages[0].kind, 'warning');
  assert.equal(mock.messages[0].message, 'ctask: task fix needs your input (permission to use Bash)');
  assert.deepEqual(mock.messages[0].items, ['Attach', 'Show Changes']);
  assert.deepEqual(server.calls.map(([c]) => c), [ServerCommand.attach]);
  assert.equal(mock.terminals.length, 1);
  assert.equal(store.get('fix')?.activity?.state, 'needs_input');
  assert.equal(store.get('fix')?.conversation_id, 'c1');
  // the same state again (a new message) is no second announcement
  commands.activity({ name: 'fix', workspace: '/w/fix', activity: { state: 'needs_input', since, source: 'hook', message: 'x' }, conversation_id: 'c1' });
  await settle();
  assert.equal(mock.messages.length, 1);
});

test('a session another process owned ends: announced; ctask.notifications false: silence', async () => {
  store.applyLeaseState(owned('other', { owned_here: false }));
  const since = '2025-01-01T00:00:00Z';
  commands.activity({ name: 'other', workspace: '/w/other', activity: { state: 'idle', since, source: 'output' }, conversation_id: null });
  commands.activity({ name: 'other', workspace: '/w/other', activity: null, conversation_id: null });
  await settle();
  assert.deepEqual(
    mock.messages.map((m) => [m.kind, m.message, m.items]),
    [['info', 'ctask: task other: its session ended', ['Show Changes']]],
  );
  mock.settings.set('ctask.notifications', { default: true, user: false });
  commands.activity({ name: 'other', workspace: '/w/other', activity: { state: 'needs_input', since, source: 'hook' }, conversation_id: null });
  commands.sessionEnded({ name: 'other', summary: { end_reason: 'stopped' } });
  await settle();
  assert.equal(mock.messages.length, 1);
  assert.equal(store.get('other')?.activity?.state, 'needs_input');
});
