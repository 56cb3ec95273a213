/**
 * What the client knows about tasks: each task as a task object (from the
 * results of list/status) with its `ctask/leaseState` notifications merged in
 * as they come (a notification is the part of a task object a lease change
 * can change: the same `lease` object, nothing to flatten), live diffs, the
 * last summaries, and which task is current.  Plain TypeScript, no vscode.
 */
import * as path from 'node:path';
import { LeaseState, type LeaseStateName } from './constants';
import type { ActivityJson, ActivityParams, DiffParams, LaunchSession, LeaseStateParams, RepoJson, Summary, TaskJson } from './protocol';

/** One task as the status bar and the pickers show it. */
export interface TaskView extends Pick<TaskJson, 'name' | 'workspace' | 'lease' | 'tmux_session' | 'tmux_alive'> {
  /** This window's server holds the lease: only `ctask/leaseState` says so (undefined until one did). */
  owned_here?: boolean;
  /** A corrupt lease or task.yaml, with its path and what to do. */
  error?: string | null;
  description?: string | null;
  updated_at?: string | null;
  last_summary?: Summary | null;
  /** The git repository and branch of a task made from one (list/status results; notifications lack it). */
  repo?: RepoJson | null;
  /** What the task's agent is doing (SPEC 3.10): `ctask/activity`, or list/status results before one came. */
  activity?: ActivityJson | null;
  /** The agent's own conversation id, as its hooks reported it. */
  conversation_id?: string | null;
}

/** A task's activity as `ctask/activity` said it last. */
interface KnownActivity {
  activity: ActivityJson | null;
  conversation_id: string | null;
}

export function isFresh(state: LeaseStateName | undefined): boolean {
  return state === LeaseState.freshLocal || state === LeaseState.freshRemote;
}

/** A session of the task runs: its tmux session is alive, or a live owner holds its lease. */
export function isRunning(task: Pick<TaskView, 'tmux_alive' | 'lease'>): boolean {
  return Boolean(task.tmux_alive) || isFresh(task.lease.state);
}

export class TaskStore {
  private readonly tasks = new Map<string, TaskView>();
  private readonly diffs = new Map<string, DiffParams>();
  private readonly summaries = new Map<string, Summary>();
  private readonly listeners = new Set<() => void>();
  private lastActed: string | undefined;
  /** Repositories by task: notifications carry none, list/status/launch results do. */
  private readonly repos = new Map<string, RepoJson>();
  /** Activities by task, from `ctask/activity` (newer than any list result). */
  private readonly activities = new Map<string, KnownActivity>();

  /** Call `listener` after every change; returns the function that unsubscribes. */
  onDidChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) {
      listener();
    }
  }

  get(name: string): TaskView | undefined {
    return this.tasks.get(name);
  }

  all(): TaskView[] {
    return [...this.tasks.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  names(): string[] {
    return this.all().map((task) => task.name);
  }

  /** A `ctask/leaseState` notification: merged into the task as it is (it replaces the task's lease). */
  applyLeaseState(params: LeaseStateParams): void {
    if (params.removed) {
      this.remove(params.name);
      return;
    }
    const before = this.tasks.get(params.name);
    const view: TaskView = {
      description: before?.description ?? null,
      updated_at: before?.updated_at ?? null,
      last_summary: before?.last_summary ?? null,
      repo: before?.repo ?? this.repos.get(params.name) ?? null,
      name: params.name,
      workspace: params.workspace,
      lease: params.lease,
      tmux_session: params.tmux_session,
      tmux_alive: params.tmux_alive,
      owned_here: params.owned_here,
      error: params.error ?? null,
      activity: before?.activity ?? null,
      conversation_id: before?.conversation_id ?? null,
    };
    this.withActivity(view);
    const state = view.lease.state;
    if (isFresh(state) && !isFresh(before?.lease.state) && this.diffs.get(params.name)?.final) {
      // A new session began: the final diff of the previous one is history now.
      this.diffs.delete(params.name);
    }
    if (isFresh(state) && before?.lease.state !== state) {
      this.summaries.delete(params.name);
    }
    this.tasks.set(params.name, view);
    this.changed();
  }

  /** A task from list/status results.  `owned_here` is kept from notifications of the same session. */
  applyTask(task: TaskJson): TaskView {
    const view = this.put(task);
    this.changed();
    return view;
  }

  /** A task not heard of yet, from a launch result: its workspace (the terminal's cwd) and lease. */
  applyLaunch(name: string, workspace: string, session: LaunchSession): void {
    this.tasks.set(name, {
      name,
      workspace,
      lease: session.lease,
      tmux_session: session.tmux_session,
      tmux_alive: false,
      // A launch result carries a session id exactly when this server owns the session.
      owned_here: session.session_id !== null && session.session_id === session.lease.session_id,
    });
    this.withActivity(this.tasks.get(name) as TaskView);
    this.changed();
  }

  /** The activity `ctask/activity` said last, over what a list result or an older view had. */
  private withActivity(view: TaskView): TaskView {
    const known = this.activities.get(view.name);
    if (known) {
      view.activity = known.activity;
      view.conversation_id = known.conversation_id;
    }
    return view;
  }

  /** A `ctask/activity` notification; returns the activity state before it (undefined: none). */
  applyActivity(params: ActivityParams): string | undefined {
    // Only what notifications said: a task already waiting when this window starts is announced too.
    const before = this.activities.get(params.name)?.activity?.state;
    this.activities.set(params.name, { activity: params.activity ?? null, conversation_id: params.conversation_id ?? null });
    const task = this.tasks.get(params.name);
    if (task) {
      this.withActivity(task);
    }
    this.changed();
    return before;
  }

  private put(task: TaskJson): TaskView {
    const view: TaskView = { ...task };
    if (view.repo) {
      this.repos.set(task.name, view.repo);
    } else {
      this.repos.delete(task.name);
    }
    const before = this.tasks.get(task.name);
    if (before !== undefined && before.lease.session_id === view.lease.session_id) {
      view.owned_here = before.owned_here;
    }
    this.tasks.set(task.name, this.withActivity(view));
    return view;
  }

  /** Replace the whole list (the result of `ctask.list`): tasks that are gone are dropped. */
  applyList(tasks: TaskJson[]): void {
    const names = new Set(tasks.map((task) => task.name));
    for (const name of [...this.tasks.keys()]) {
      if (!names.has(name)) {
        this.tasks.delete(name);
        this.repos.delete(name);
        this.activities.delete(name);
      }
    }
    for (const task of tasks) {
      this.put(task);
    }
    this.changed();
  }

  /** A task's repository (from a launch with `repo`, or a list): kept for notifications of the task to come. */
  setRepo(name: string, repo: RepoJson): void {
    this.repos.set(name, repo);
    const task = this.tasks.get(name);
    if (task) {
      task.repo = repo;
      this.changed();
    }
  }

  /** A task's repository, if it is known to be on one. */
  repo(name: string): RepoJson | undefined {
    return this.tasks.get(name)?.repo ?? this.repos.get(name);
  }

  /** The repositories of a `ctask.list` result, and nothing else of it (the lease states may be older than notifications). */
  learnRepos(tasks: TaskJson[]): void {
    for (const task of tasks) {
      if (task.repo) {
        this.setRepo(task.name, task.repo);
      }
    }
  }

  remove(name: string): void {
    this.repos.delete(name);
    this.activities.delete(name);
    if (!this.tasks.has(name) && this.lastActed !== name) {
      return;
    }
    this.tasks.delete(name);
    this.diffs.delete(name);
    this.summaries.delete(name);
    if (this.lastActed === name) {
      this.lastActed = undefined;
    }
    this.changed();
  }

  applyDiff(params: DiffParams): void {
    this.diffs.set(params.name, params);
    this.changed();
  }

  diff(name: string): DiffParams | undefined {
    return this.diffs.get(name);
  }

  applySessionEnded(name: string, summary: Summary): void {
    this.summaries.set(name, summary);
    const task = this.tasks.get(name);
    if (task) {
      task.last_summary = summary;
    }
    this.changed();
  }

  /** The summary of a session that ended while this window was watching. */
  endedSummary(name: string): Summary | undefined {
    return this.summaries.get(name);
  }

  setLastActed(name: string): void {
    if (this.lastActed !== name) {
      this.lastActed = name;
      this.changed();
    }
  }

  get lastActedName(): string | undefined {
    return this.lastActed;
  }

  /**
   * The current task: the one whose workspace contains an open folder (the
   * deepest match), else the last one acted on in this window.
   */
  current(folders: readonly string[]): TaskView | undefined {
    let best: TaskView | undefined;
    for (const task of this.tasks.values()) {
      if (!task.workspace) {
        continue;
      }
      const ws = path.resolve(task.workspace);
      const inside = folders.some((folder) => {
        const f = path.resolve(folder);
        return f === ws || f.startsWith(ws + path.sep);
      });
      if (inside && (!best || ws.length > path.resolve(best.workspace).length)) {
        best = task;
      }
    }
    if (best) {
      return best;
    }
    return this.lastActed !== undefined ? this.tasks.get(this.lastActed) : undefined;
  }
}
