import './setup';
import * as assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { Command, ErrorKind, ServerCommand } from '../src/constants';
import { ServerError } from '../src/errors';
import { CHECKPOINT_SCHEME, DIFF_CONTEXT, Review, checkpointRef, parseCheckpointRef } from '../src/review';
import { TaskStore } from '../src/state';
import { Commands } from '../src/commands';
import * as api from '../src/vscodeapi';
import { FakeServer, diff, owned } from './fakes';
import { TabInputTextDiff, Uri, mock } from './mock/vscode';

const TREE = '/home/u/.local/share/ctask/tasks/fix';
let server: FakeServer;
let store: TaskStore;
let review: Review;

beforeEach(() => {
  mock.reset();
  server = new FakeServer();
  store = new TaskStore();
  store.applyLeaseState(owned('fix'));
  const commands = new Commands({ server, store, folders: () => mock.folders, logChannel: api.createOutputChannel('x') });
  commands.register();
  review = commands.review;
});

/** The sides of the last `vscode.diff`, as URI strings, and its title. */
function lastDiff(): [string, string, string] {
  const call = mock.executed.filter(([id]) => id === 'vscode.diff').at(-1);
  assert.ok(call, 'no diff editor was opened');
  const [left, right, title] = call[1] as [Uri, Uri, string];
  return [String(left), String(right), title];
}

test('checkpoint documents: a name round-trips, other schemes are not ours', () => {
  const doc = { task: 'fix', path: 'src/a b.py', checkpoint: 7 };
  assert.deepEqual(parseCheckpointRef(checkpointRef(doc)), { ...doc, absent: false });
  assert.deepEqual(parseCheckpointRef(checkpointRef({ ...doc, absent: true })), { ...doc, absent: true });
  assert.equal(parseCheckpointRef({ scheme: 'file', path: '/x' }), undefined);
  assert.equal(parseCheckpointRef({ scheme: CHECKPOINT_SCHEME, path: '/x', query: 'task=fix&checkpoint=x' }), undefined);
});

test('the content provider reads a checkpoint once through ctask.fileAt; an absent side is empty', async () => {
  server.reply(ServerCommand.fileAt, () => ({ content: 'print(1)\n', checkpoint: { n: 2 } }));
  const provider = mock.providers.get(CHECKPOINT_SCHEME)!;
  const uri = Uri.from(checkpointRef({ task: 'fix', path: 'a.py', checkpoint: 2 }));
  assert.equal(await provider.provideTextDocumentContent(uri), 'print(1)\n');
  assert.equal(await provider.provideTextDocumentContent(uri), 'print(1)\n');
  assert.equal(server.sent(ServerCommand.fileAt).length, 1);
  const absent = Uri.from(checkpointRef({ task: 'fix', path: 'a.py', checkpoint: 2, absent: true }));
  assert.equal(await provider.provideTextDocumentContent(absent), '');
  assert.equal(server.sent(ServerCommand.fileAt).length, 1);
});

test('an added file is compared with an empty document, a deleted one shows what it was', async () => {
  server.reply(ServerCommand.fileAt, () => ({ content: 'gone\n', checkpoint: { n: 1 } }));
  await review.openDiff('fix', 'new.txt', 'added', 1);
  assert.deepEqual(lastDiff(), [
    'ctask-checkpoint:/new.txt?task=fix&checkpoint=1&absent=1',
    `file:${TREE}/new.txt`,
    'new.txt (fix: checkpoint 1 ↔ now)',
  ]);
  assert.equal(server.sent(ServerCommand.fileAt).length, 0);
  await review.openDiff('fix', 'old.txt', 'deleted', 1);
  assert.deepEqual(lastDiff(), [
    'ctask-checkpoint:/old.txt?task=fix&checkpoint=1',
    'ctask-checkpoint:/old.txt?task=fix&checkpoint=1&absent=1',
    'old.txt (fix: checkpoint 1 ↔ deleted)',
  ]);
});

test('a binary file, or a session without a checkpoint, is said in a warning that offers the file', async () => {
  server.reply(ServerCommand.fileAt, () => {
    throw new ServerError('img.png in checkpoint 1 of task fix is a binary file (900 bytes)', ErrorKind.invalidArgument);
  });
  mock.answer.message = () => 'Open File';
  assert.equal(await review.openDiff('fix', 'img.png', 'modified', 1), undefined);
  assert.equal(mock.messages[0].message, 'ctask: cannot compare: img.png in checkpoint 1 of task fix is a binary file (900 bytes)');
  assert.deepEqual(mock.messages[0].items, ['Open File']);
  assert.deepEqual(mock.openedFiles, [`${TREE}/img.png`]);
  server.reply(ServerCommand.diff, () => diff('fix', { modified: ['a.py'] }));
  assert.equal(await review.openDiff('fix', 'a.py', 'modified', null), undefined);
  assert.match(mock.messages[1].message, /task fix has no checkpoint of its session's start to compare a.py with/);
  assert.equal(mock.executed.filter(([id]) => id === 'vscode.diff').length, 0);
});

test('a changed file whose row names no checkpoint asks ctask.diff again: the start checkpoint may be newer', async () => {
  server.reply(ServerCommand.diff, () => diff('fix', { added: ['new.txt'], checkpoint: 2 }));
  assert.equal(await review.openDiff('fix', 'new.txt', 'added', null), 'new.txt (fix: checkpoint 2 ↔ now)');
  assert.deepEqual(server.sent(ServerCommand.diff), [{ name: 'fix' }]);
  assert.equal(lastDiff()[0], 'ctask-checkpoint:/new.txt?task=fix&checkpoint=2&absent=1');
  assert.equal(mock.messages.length, 0);
});

test('Show Changes of an ended session takes the checkpoint from ctask.diff', async () => {
  store.applyDiff(diff('fix', { final: true, modified: ['a.py'], checkpoint: 4 }));
  server.reply(ServerCommand.fileAt, () => ({ content: 'x\n', checkpoint: { n: 4 } }));
  mock.answer.quickPick = (items) => items.find((i) => i.file === 'a.py');
  await api.executeCommand(Command.showChanges, 'fix');
  assert.equal(lastDiff()[0], 'ctask-checkpoint:/a.py?task=fix&checkpoint=4');
});

test('Revert File from the diff editor: the context key, a modal, then ctask.revert of that file to that checkpoint', async () => {
  const left = Uri.from(checkpointRef({ task: 'fix', path: 'src/a.py', checkpoint: 3 }));
  mock.activeTab = { input: new TabInputTextDiff(left, Uri.file(`${TREE}/src/a.py`)) };
  new Review(server, store).register();
  assert.equal(mock.context.get(DIFF_CONTEXT), true);
  server.reply(ServerCommand.revert, () => ({ task: 'fix', to: { n: 3 }, before: { n: 9 }, restored: ['src/a.py'], deleted: [] }));
  mock.answer.message = (m) => (m.modal ? 'Revert' : undefined);
  const result = await api.executeCommand(Command.revertFile);
  assert.deepEqual(server.sent(ServerCommand.revert), [{ name: 'fix', paths: ['src/a.py'], to: '3' }]);
  assert.equal(mock.messages[0].modal, true);
  assert.equal(
    mock.messages[0].message,
    'Put src/a.py of task fix back as it was at checkpoint 3? ctask takes a checkpoint first, so you can undo this.',
  );
  assert.equal(mock.messages[1].message, 'ctask: src/a.py of task fix restored as at checkpoint 3; checkpoint 9 has it as it was');
  assert.deepEqual(mock.messages[1].items, ['Undo']);
  assert.deepEqual(result, { task: 'fix', to: { n: 3 }, before: { n: 9 }, restored: ['src/a.py'], deleted: [] });
});

test('Revert File: Cancel sends nothing; a running agent asks again and forces; Undo reverts to the checkpoint taken first', async () => {
  mock.activeFile = `${TREE}/notes.md`;
  mock.answer.message = () => undefined;
  assert.equal(await review.revertFile(), undefined);
  assert.equal(server.calls.length, 0);
  assert.match(mock.messages[0].message, /^Put notes.md of task fix back as it was at its session's start\?/);

  let calls = 0;
  server.reply(ServerCommand.revert, (a) => {
    calls += 1;
    if (calls === 1) {
      throw new ServerError("task fix's agent is running", ErrorKind.taskBusy, { kind: 'TaskBusy', reason: 'agent_running' });
    }
    return { task: 'fix', to: { n: Number(a.to ?? 1) }, before: { n: 10 + calls }, restored: [], deleted: ['notes.md'] };
  });
  const answers = ['Revert', 'Revert Anyway', 'Undo', undefined];
  mock.answer.message = () => answers.shift();
  await review.revertFile(Uri.file(`${TREE}/notes.md`));
  assert.deepEqual(server.sent(ServerCommand.revert), [
    { name: 'fix', paths: ['notes.md'], to: undefined },
    { name: 'fix', paths: ['notes.md'], to: undefined, force: true },
    { name: 'fix', paths: ['notes.md'], to: '12' },
  ]);
  assert.match(mock.messages.at(-3)!.message, /The agent of task fix is running and may be writing notes.md/);
  assert.match(mock.messages.at(-2)!.message, /notes.md of task fix deleted \(it did not exist then\) as at checkpoint 1; checkpoint 12/);
});

test('Revert File outside any task says what to open', async () => {
  mock.activeFile = '/etc/hosts';
  await api.executeCommand(Command.revertFile);
  assert.equal(server.calls.length, 0);
  assert.match(mock.messages[0].message, /nothing to revert: open a task's file, or its diff from ctask: Show Changes, first/);
});
