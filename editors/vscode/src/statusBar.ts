/**
 * The status-bar item of the current task.  `present()` is a pure function of
 * the task, the server state and the clock; `StatusBar.update()` is the one
 * place that writes the item.
 */
import { ActivityState, Command, LeaseState, STATUS_ITEM_ID } from './constants';
import type { ActivityJson } from './protocol';
import type { ServerState } from './server';
import type { TaskView } from './state';
import * as api from './vscodeapi';

export interface Presentation {
  text: string;
  tooltip: string;
  /** `statusBarItem.warningBackground`: stale, or held by another host. */
  warning: boolean;
  /** `statusBarItem.errorBackground`: the server is not running. */
  error: boolean;
  /** Screen-reader label (the text without icons). */
  label: string;
}

/** `12s`, `3m 04s`, `2h 05m`. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Seconds since the task's last heartbeat at NOW, computed from the lease's
 * `heartbeat_at` (a heartbeat alone is no notification: nothing is polled for
 * it); the lease's `age_s`, its age when sent, only when that cannot be read.
 */
export function heartbeatAge(task: TaskView, now: number): number | undefined {
  if (task.lease.heartbeat_at) {
    const at = Date.parse(task.lease.heartbeat_at);
    if (!Number.isNaN(at)) {
      return Math.max(0, (now - at) / 1000);
    }
  }
  return task.lease.age_s ?? undefined;
}

/** Escape what markdown would read as markup in text from the server (paths, reasons). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]<>|#]/g, (ch) => `\\${ch}`);
}

function counts(c: { added: number; modified: number; deleted: number } | undefined): string {
  return c ? `+${c.added} ~${c.modified} -${c.deleted}` : '';
}

/** Icon, words and colour for one lease state. */
export function stateLook(task: TaskView, ended: boolean): { icon: string; words: string; warning: boolean; says: string } {
  switch (task.lease.state) {
    case LeaseState.freshLocal:
      if (task.owned_here === false) {
        return { icon: 'person', words: 'in use', warning: false, says: `in use by pid ${task.lease.pid ?? '?'} on this host` };
      }
      return { icon: 'pulse', words: 'owned', warning: false, says: 'owned by this window\'s ctask server' };
    case LeaseState.freshRemote:
      return {
        icon: 'remote',
        words: `on ${task.lease.host ?? 'another host'}`,
        warning: true,
        says: `held by another host (${task.lease.host ?? '?'})`,
      };
    case LeaseState.stale:
      return { icon: 'warning', words: 'stale', warning: true, says: 'stale: its owner stopped heartbeating' };
    default:
      if (task.tmux_alive) {
        return { icon: 'debug-disconnect', words: 'unowned', warning: false, says: 'running with no owner (it will be adopted)' };
      }
      if (ended) {
        return { icon: 'pass', words: 'ended', warning: false, says: 'its session ended' };
      }
      return { icon: 'circle-outline', words: 'idle', warning: false, says: 'no running session' };
  }
}

/** Icon and words of an agent's activity (SPEC 3.10); `needs_input` is the one that asks for the warning colour. */
export function activityLook(activity: ActivityJson | null | undefined): { icon: string; words: string; warning: boolean } | undefined {
  switch (activity?.state) {
    case ActivityState.needsInput:
      return { icon: 'bell-dot', words: 'needs input', warning: true };
    case ActivityState.working:
      return { icon: 'sync~spin', words: 'working', warning: false };
    case ActivityState.idle:
      return { icon: 'watch', words: 'idle', warning: false };
    case ActivityState.exited:
      return { icon: 'debug-stop', words: 'exited', warning: false };
    default:
      return undefined;
  }
}

export interface PresentInput {
  task: TaskView | undefined;
  server: ServerState;
  now: number;
  /** The summary of a session of this task that ended while this window was watching. */
  ended?: { counts?: { added: number; modified: number; deleted: number }; end_reason?: string; exit_status?: number | null };
  /** Counts of the live diff, when the server sent one. */
  live?: { added: number; modified: number; deleted: number };
  /** Why the server is not running, when it failed to start. */
  problem?: string;
}

export function present({ task, server, now, ended, live, problem }: PresentInput): Presentation {
  if (server === 'idle') {
    return {
      text: '$(tasklist) ctask',
      tooltip: 'ctask: not started in this window (no folder here is a task\'s tree). Click for actions.',
      warning: false,
      error: false,
      label: 'ctask: not started',
    };
  }
  if (server === 'starting') {
    return { text: '$(loading~spin) ctask', tooltip: 'ctask: starting the server…', warning: false, error: false, label: 'ctask: starting' };
  }
  if (server === 'stopped') {
    return {
      text: '$(error) ctask',
      tooltip: problem
        ? `ctask: ${problem}`
        : 'ctask: the server is not running. Click to restart it; see Output › ctask for why it stopped.',
      warning: false,
      error: true,
      label: 'ctask: server not running',
    };
  }
  if (!task) {
    return {
      text: '$(tasklist) ctask',
      tooltip: 'ctask: no current task. Click for actions.',
      warning: false,
      error: false,
      label: 'ctask: no current task',
    };
  }
  const look = stateLook(task, ended !== undefined);
  let words = look.words;
  if (look.words === 'ended' && ended?.counts) {
    words = `ended ${counts(ended.counts)}`;
  }
  const doing = activityLook(task.activity);
  const md = escapeMarkdown;
  const lines = [`**ctask: ${md(task.name)}** — ${look.says}`, ''];
  if (doing && task.activity) {
    const since = Date.parse(task.activity.since);
    const age = Number.isNaN(since) ? '' : ` for ${formatAge((now - since) / 1000)}`;
    const why = task.activity.message ? `: ${md(task.activity.message)}` : '';
    const who = task.activity.source === 'hook' ? 'its hooks say' : 'from its output';
    lines.push(`$(${doing.icon}) agent ${doing.words}${age}${why} (${who})`, '');
    if (task.activity.state === ActivityState.needsInput) {
      lines.push('Click and choose Attach to answer it.', '');
    }
  }
  const facts: string[] = [];
  if (task.lease.host) {
    facts.push(`host ${md(task.lease.host)}`);
  }
  if (task.lease.pid) {
    facts.push(`pid ${task.lease.pid}`);
  }
  const age = heartbeatAge(task, now);
  if (age !== undefined && task.lease.state !== LeaseState.missing) {
    facts.push(`heartbeat ${formatAge(age)} ago`);
  }
  if (facts.length) {
    lines.push(facts.join(' · '), '');
  }
  if (task.lease.reason) {
    lines.push(`reason: ${md(task.lease.reason)}`, '');
  }
  if (task.error) {
    lines.push(`$(error) ${md(task.error)}`, '');
  }
  if (task.lease.agent) {
    lines.push(`agent: ${md(task.lease.agent)}`, '');
  }
  if (task.repo) {
    const { base, base_ref: ref } = task.repo;
    const sha = base && /^[0-9a-f]{40,64}$/.test(base) ? base.slice(0, 10) : base;
    const from = ref && sha && ref !== base ? ` from ${md(ref)} (${md(sha)})` : sha || ref ? ` from ${md(String(ref ?? sha))}` : '';
    lines.push(`$(git-branch) branch ${md(task.repo.branch)}${from} · repository ${md(task.repo.path)}`, '');
    if (task.repo.worktree) {
      lines.push(`worktree: ${md(task.repo.worktree)}`, '');
    }
  }
  if (task.tmux_session) {
    lines.push(`tmux: ${md(task.tmux_session)} (${task.tmux_alive ? 'running' : 'not running'})`, '');
  }
  if (live && task.lease.state !== LeaseState.missing) {
    lines.push(`changes so far: ${counts(live)}`, '');
  }
  if (ended) {
    const status = ended.exit_status !== undefined && ended.exit_status !== null ? `, exit status ${ended.exit_status}` : '';
    const reason = (ended.end_reason ?? 'ended').replace(/_/g, ' ');
    lines.push(`last session: ${reason}${status} ${counts(ended.counts)}`.trimEnd(), '');
  }
  lines.push(`workspace: ${md(task.workspace)}`, '', 'Click for actions.');
  if (doing?.warning) {
    // Waiting for the user: the activity takes the place of the lease, in the warning colour.
    return {
      text: `$(${doing.icon}) ${task.name}: ${doing.words}`,
      tooltip: lines.join('\n'),
      warning: true,
      error: false,
      label: `ctask task ${task.name}: ${words}, agent ${doing.words}`,
    };
  }
  const activityWords = doing ? ` · ${doing.words}` : '';
  return {
    text: `$(${look.icon}) ${task.name}: ${words}${activityWords}`,
    tooltip: lines.join('\n'),
    warning: look.warning,
    error: false,
    label: `ctask task ${task.name}: ${words}${doing ? `, agent ${doing.words}` : ''}`,
  };
}

/** The status-bar item; `update()` renders the current state. */
export class StatusBar implements api.Disposable {
  private readonly item: api.StatusBarItem;

  constructor(private readonly input: () => PresentInput) {
    this.item = api.createStatusBarItem(STATUS_ITEM_ID, 100);
    this.item.name = 'ctask';
    this.item.command = Command.statusActions;
    this.update();
    this.item.show();
  }

  update(): void {
    const p = present(this.input());
    this.item.text = p.text;
    this.item.tooltip = api.markdown(p.tooltip);
    this.item.accessibilityInformation = { label: p.label };
    this.item.backgroundColor = p.error
      ? api.themeColor('statusBarItem.errorBackground')
      : p.warning
        ? api.themeColor('statusBarItem.warningBackground')
        : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
