import './setup';
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { tmuxSessionName, validateTaskName } from '../src/names';

test('valid names pass', () => {
  for (const name of ['a', 'fix-login', 'v1.2_rc-3', '9lives', 'x'.repeat(64)]) {
    assert.equal(validateTaskName(name), undefined, name);
  }
});

test('invalid names are refused with the reason', () => {
  assert.match(validateTaskName('') ?? '', /Enter a task name/);
  assert.match(validateTaskName('..') ?? '', /starts with a letter or a digit/);
  assert.match(validateTaskName('.hidden') ?? '', /starts with a letter or a digit/);
  assert.match(validateTaskName('-x') ?? '', /starts with a letter or a digit/);
  assert.match(validateTaskName('a/b') ?? '', /"\/" is not allowed/);
  assert.match(validateTaskName('a b') ?? '', /U\+0020 is not allowed/);
  assert.match(validateTaskName('a\tb') ?? '', /U\+0009 is not allowed/);
  assert.match(validateTaskName('tâche') ?? '', /U\+00E2 is not allowed/);
  assert.match(validateTaskName('x'.repeat(65)) ?? '', /at most 64 characters \(this one has 65\)/);
});

test('an existing name or a tmux-name collision is refused', () => {
  assert.match(validateTaskName('fix', ['fix']) ?? '', /Task "fix" exists.*Resume Task/);
  assert.match(validateTaskName('a.b', ['a_b']) ?? '', /share the tmux session ctask-a_b with task "a_b"/);
  assert.equal(validateTaskName('a.b', ['a-b']), undefined);
});

test('tmux session names replace dots and colons', () => {
  assert.equal(tmuxSessionName('a.b'), 'ctask-a_b');
});
