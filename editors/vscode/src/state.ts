/**
 * What the client knows about tasks: the lease state of each task (from
 * `ctask/leaseState` and the results of list/status), live diffs, the last
 * summaries, and which task is current.  Plain TypeScript, no vscode.
 */
import * as path from 'node:path';
import { LeaseState, type LeaseStateName } from './constants';
import type { DiffParams, LaunchSession, LeaseStateParams, RepoJson, Summary, TaskJson } from './protocol';

/** One task as the status bar and the pickers show it (the shape of `ctask/leaseState`). */
export interface TaskView extends Omit<LeaseStateParams, 'owned_here'> {
  /** From `ctask/leaseState` only (task objects do not say); undefined until a notification told. */
  owned_here?: boolean;
  description?: string | null;
  updated_at?: string | null;
  last_summary?: Summary | null;
  /** The git repository and branch of a task made from one (list/status results; notifications lack it). */
  repo?: RepoJson | null;
}

export function isFresh(state: LeaseStateName | undefined): boolean {
  return state === LeaseState.freshLocal || state === LeaseState.freshRemote;
}

/** A task json of list/status/launch results, flattened to the leaseState shape. */
export function taskViewFromJson(task: TaskJson): TaskView {
  const lease = task.lease;
  const view: TaskView = {
    name: task.name,
    workspace: task.workspace,
    state: lease.state,
    reason: lease.reason,
    session_id: lease.session_id,
    host: lease.host,
    pid: lease.pid,
    agent: lease.agent,
    mode: lease.mode,
    heartbeat_at: lease.heartbeat_at,
    age_s: lease.age_s,
    tmux_session: task.tmux_session,
    tmux_alive: task.tmux_alive,
    description: task.description,
    updated_at: task.updated_at,
    last_summary: task.last_summary,
    repo: task.repo,
  };
  if (task.error) {
    view.error = task.error;
  }
  return view;
}

export class TaskStore {
  private readonly tasks = new Map<string, TaskView>();
  private readonly diffs = new Map<string, DiffParams>();
  private readonly summaries = new Map<string, Summary>();
  private readonly listeners = new Set<() => void>();
  private lastActed: string | undefined;
  private readonly versions = new Map<string, number>();
  /** Repositories by task: notifications carry none, list/status/launch results do. */
  private readonly repos = new Map<string, RepoJson>();

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

  /** A `ctask/leaseState` notification: it replaces what was known of the task's lease. */
  applyLeaseState(params: LeaseStateParams): void {
    if (params.removed) {
      this.versions.set(params.name, this.version(params.name) + 1);
      this.remove(params.name);
      return;
    }
    const before = this.tasks.get(params.name);
    const view: TaskView = {
      description: before?.description ?? null,
      updated_at: before?.updated_at ?? null,
      last_summary: before?.last_summary ?? null,
      repo: before?.repo ?? this.repos.get(params.name) ?? null,
      ...params,
    };
    if (isFresh(view.state) && !isFresh(before?.state) && this.diffs.get(params.name)?.final) {
      // A new session began: the final diff of the previous one is history now.
      this.diffs.delete(params.name);
    }
    if (isFresh(view.state) && before?.state !== view.state) {
      this.summaries.delete(params.name);
    }
    this.tasks.set(params.name, view);
    this.versions.set(params.name, this.version(params.name) + 1);
    this.changed();
  }

  /** How many `ctask/leaseState` notifications of NAME arrived so far. */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  /**
   * The result of a `ctask.status` poll sent when `version(name)` was SINCE:
   * dropped when a notification arrived meanwhile (it is newer).
   */
  applyStatus(task: TaskJson, since: number): boolean {
    if (this.version(task.name) !== since) {
      return false;
    }
    this.applyTask(task);
    return true;
  }

  /** A task from list/status results.  `owned_here` is kept from notifications of the same session. */
  applyTask(task: TaskJson): TaskView {
    const view = this.put(task);
    this.changed();
    return view;
  }

  /** A task not heard of yet, from a launch result: its workspace (the terminal's cwd) and lease. */
  applyLaunch(name: string, workspace: string, session: LaunchSession): void {
    const lease = session.lease;
    this.tasks.set(name, {
      name,
      workspace,
      state: lease.state,
      reason: lease.reason,
      session_id: lease.session_id,
      host: lease.host,
      pid: lease.pid,
      agent: lease.agent,
      mode: lease.mode,
      heartbeat_at: lease.heartbeat_at,
      age_s: lease.age_s,
      tmux_session: session.tmux_session,
      tmux_alive: false,
      owned_here: session.session_id !== null && session.session_id === lease.session_id,
    });
    this.changed();
  }

  private put(task: TaskJson): TaskView {
    const view = taskViewFromJson(task);
    if (view.repo) {
      this.repos.set(task.name, view.repo);
    } else {
      this.repos.delete(task.name);
    }
    const before = this.tasks.get(task.name);
    if (before !== undefined && before.session_id === view.session_id) {
      view.owned_here = before.owned_here;
    }
    this.tasks.set(task.name, view);
    return view;
  }

  /** Replace the whole list (the result of `ctask.list`): tasks that are gone are dropped. */
  applyList(tasks: TaskJson[]): void {
    const names = new Set(tasks.map((task) => task.name));
    for (const name of [...this.tasks.keys()]) {
      if (!names.has(name)) {
        this.tasks.delete(name);
        this.repos.delete(name);
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
