/** Task-name rules of SPEC section 2, checked in the input box before anything is sent. */
import { TASK_NAME_RE } from './constants';

/** The tmux session of a task: `ctask-` + the name with `.` and `:` replaced by `_`. */
export function tmuxSessionName(name: string): string {
  return `ctask-${name.replace(/[.:]/g, '_')}`;
}

/** Why NAME cannot be a new task's name, or undefined when it can. */
export function validateTaskName(name: string, existing: readonly string[] = []): string | undefined {
  if (name.length === 0) {
    return 'Enter a task name: letters, digits, ".", "_" and "-".';
  }
  if (name.length > 64) {
    return `A task name has at most 64 characters (this one has ${name.length}).`;
  }
  if (!/^[A-Za-z0-9]/.test(name)) {
    return 'A task name starts with a letter or a digit.';
  }
  if (!TASK_NAME_RE.test(name)) {
    const bad = [...name].find((ch) => !/[A-Za-z0-9._-]/.test(ch)) ?? '';
    const shown = /^[\x20-\x7e]$/.test(bad) && bad !== ' ' ? `"${bad}"` : `U+${bad.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')}`;
    return `${shown} is not allowed in a task name: use letters, digits, ".", "_" and "-".`;
  }
  if (existing.includes(name)) {
    return `Task "${name}" exists: use "ctask: Resume Task" to work on it again.`;
  }
  const tmux = tmuxSessionName(name);
  const clash = existing.find((other) => tmuxSessionName(other) === tmux);
  if (clash !== undefined) {
    return `Task "${name}" would share the tmux session ${tmux} with task "${clash}": choose another name.`;
  }
  return undefined;
}

/**
 * Why BRANCH cannot be a new branch's name (the main rules of
 * `git check-ref-format --branch`), or undefined when it can.  The server
 * checks with git itself; this only catches typos while typing.
 */
export function validateBranchName(branch: string): string | undefined {
  if (/\s/.test(branch)) {
    return 'A branch name has no spaces.';
  }
  if (branch.startsWith('-')) {
    return 'A branch name does not start with "-".';
  }
  const bad = [...branch].find((ch) => '~^:?*[\\'.includes(ch) || ch.charCodeAt(0) < 0x20 || ch === '\x7f');
  if (bad !== undefined) {
    return `"${bad}" is not allowed in a branch name.`;
  }
  if (branch.includes('..') || branch.includes('@{') || branch.includes('//')) {
    return 'A branch name has no "..", "@{" or "//".';
  }
  if (branch === '@' || /(^|\/)\./.test(branch) || /(\.lock|\/|\.)$/.test(branch) || branch.startsWith('/')) {
    return 'A branch name does not start or end with "/", has no part starting with "." and does not end with "." or ".lock".';
  }
  return undefined;
}
