/**
 * The ctask view in the activity bar: every task with its lease and its
 * agent's activity (the status bar's words and icons), and beneath it the
 * files its session changed, each opening VS Code's diff editor against the
 * session's start checkpoint (another host's: both sides from its server).  Inline actions (package.json `view/item/context`)
 * go by the row's `viewItem`:
 *   `task.running` / `task.running.remote` / `task.stopped`: Attach and Stop, Show Changes, Remove;
 *   `change.added` / `change.modified` / `change.deleted`: Revert File.
 * It redraws when the store changes (notifications), never on a timer.  A
 * task's files come from its live or final `ctask/diff`, else one `ctask.diff`
 * when it is expanded.
 */
import * as path from 'node:path';
import { Command, LeaseState, ServerCommand } from './constants';
import { ServerError } from './errors';
import type { DiffParams, DiffResult } from './protocol';
import type { ChangeKind, Review } from './review';
import type { Server } from './server';
import { isRunning, type TaskStore } from './state';
import { activityLook, stateLook } from './statusBar';
import type * as api from './vscodeapi';

export const VIEW_ID = 'ctask.tasks';

/** One host's part of the view: its server and what it said (this machine's is `local`). */
export interface HostEntry {
  name: string;
  server: Server & { readonly problem?: string };
  store: TaskStore;
  /** Another host's review (its diffs: both sides from its server); this machine's is the view's own. */
  review?: Review;
}

export type Node =
  | { kind: 'host'; host: string }
  | { kind: 'task'; name: string; host: string }
  | { kind: 'change'; task: string; host: string; path: string; change: ChangeKind; checkpoint: number | null | undefined }
  | { kind: 'note'; task: string; host: string; text: string };

const CHANGE_ICONS: Record<ChangeKind, string> = { added: 'diff-added', modified: 'diff-modified', deleted: 'diff-removed' };

export class TaskTree implements api.TreeSource<Node> {
  /** HOSTS[0] is this machine's; with more, the view groups the tasks by host (SPEC 10). */
  constructor(
    private readonly hosts: HostEntry[],
    private readonly review: Review,
  ) {}

  private entry(host: string): HostEntry {
    return this.hosts.find((h) => h.name === host) ?? this.hosts[0];
  }

  private tasks(entry: HostEntry): Node[] {
    return entry.store.all().map((task) => ({ kind: 'task', name: task.name, host: entry.name }));
  }

  async children(element?: Node): Promise<Node[]> {
    if (element === undefined) {
      // The view is a first use in this window: its servers start, their tasks come as notifications.
      await Promise.all(this.hosts.filter((h) => h.server.state === 'idle').map((h) => h.server.start()));
      return this.hosts.length === 1 ? this.tasks(this.hosts[0]) : this.hosts.map((h) => ({ kind: 'host', host: h.name }));
    }
    if (element.kind === 'host') {
      const entry = this.entry(element.host);
      if (entry.server.state === 'stopped') {
        // Nothing about an unreachable host's tasks is guessed: what it said last may be stale.
        const why = entry.server.problem ?? 'its server is not running';
        return [{ kind: 'note', task: '', host: entry.name, text: why }];
      }
      return this.tasks(entry);
    }
    if (element.kind !== 'task') {
      return [];
    }
    const { name, host } = element;
    const { server, store } = this.entry(host);
    let diff: DiffParams | DiffResult | undefined = store.diff(name);
    if (!diff) {
      try {
        diff = await server.execute<DiffResult>(ServerCommand.diff, { name });
      } catch (error) {
        return [{ kind: 'note', task: name, host, text: error instanceof Error ? error.message : String(error) }];
      }
    }
    const nodes: Node[] = [];
    for (const change of ['added', 'modified', 'deleted'] as const) {
      for (const file of diff[change] ?? []) {
        nodes.push({ kind: 'change', task: name, host, path: file, change, checkpoint: diff.checkpoint });
      }
    }
    return nodes.length ? nodes : [{ kind: 'note', task: name, host, text: 'no changes' }];
  }

  row(node: Node): api.TreeRow {
    if (node.kind === 'host') {
      return this.hostRow(this.entry(node.host));
    }
    const key = `${node.host}\0${node.kind === 'task' ? node.name : node.task}`;
    if (node.kind === 'note') {
      return { id: `${key}\0note`, label: node.text, expandable: false, icon: { id: 'info' } };
    }
    const store = this.entry(node.host).store;
    if (node.kind === 'change') {
      const workspace = node.host === this.hosts[0].name ? store.get(node.task)?.workspace : undefined;
      return {
        id: `${key}\0${node.change}\0${node.path}`,
        label: path.basename(node.path),
        description: path.dirname(node.path) === '.' ? node.change : `${path.dirname(node.path)} · ${node.change}`,
        tooltip: `${node.path}: ${node.change} since the session's start${node.checkpoint ? ` (checkpoint ${node.checkpoint})` : ''}`,
        icon: { id: CHANGE_ICONS[node.change] },
        file: workspace ? path.join(workspace, node.path) : undefined,
        contextValue: `change.${node.change}`,
        expandable: false,
        command: { command: Command.openChange, title: 'Compare with the Checkpoint', arguments: [node] },
      };
    }
    const task = store.get(node.name);
    if (!task) {
      return { id: key, label: node.name, expandable: false };
    }
    const ended = task.lease.state === LeaseState.missing && !task.tmux_alive && store.endedSummary(task.name) !== undefined;
    const lease = stateLook(task, ended);
    const activity = isRunning(task) ? activityLook(task.activity) : undefined;
    // A lease another host holds says "on HOST" (the words of the status bar).
    const words = [lease.words, activity?.words].filter(Boolean).join(' · ');
    const warn = activity?.warning || lease.warning;
    return {
      id: key,
      label: task.name,
      description: [words, task.description ?? ''].filter(Boolean).join(' — '),
      tooltip: [`${task.name}: ${lease.says}`, task.repo ? `branch ${task.repo.branch}` : '', task.workspace].filter(Boolean).join('\n'),
      icon: { id: activity?.warning ? activity.icon : lease.icon, color: warn ? 'list.warningForeground' : undefined },
      contextValue: isRunning(task) ? (task.lease.state === LeaseState.freshRemote ? 'task.running.remote' : 'task.running') : 'task.stopped',
      expandable: true,
    };
  }

  private hostRow(entry: HostEntry): api.TreeRow {
    const local = entry === this.hosts[0];
    const state = entry.server.state;
    const count = entry.store.all().length;
    const failed = state === 'stopped';
    const words =
      state === 'running'
        ? `${count} task${count === 1 ? '' : 's'}`
        : state === 'starting'
          ? 'connecting…'
          : failed
            ? 'unreachable'
            : 'not connected';
    return {
      id: `host\0${entry.name}`,
      label: entry.name,
      description: local ? `this machine · ${words}` : words,
      tooltip: failed && entry.server.problem ? `ctask: ${entry.server.problem}` : `${entry.name}: ${words}`,
      icon: { id: local ? 'device-desktop' : 'remote', color: failed ? 'list.warningForeground' : undefined },
      contextValue: failed ? 'host.failed' : 'host',
      expandable: true,
    };
  }

  /**
   * What the view shows, as text: a change of a store that leaves it the same redraws nothing.  A redraw
   * replaces every row and its command, and a click on a row being replaced is lost (VS Code: "Actual command
   * not found"), or runs an inline action with no row (it then asks which host); a busy agent's heartbeats and
   * repeated activities would otherwise redraw the view every few seconds.
   */
  signature(): string {
    return JSON.stringify(
      // A host's row holds its problem (its tooltip), a task's row its workspace (its tooltip).
      this.hosts.map((entry) => [
        this.hostRow(entry),
        entry.store.all().map((task) => {
          const diff = entry.store.diff(task.name);
          const files = diff && [diff.added, diff.modified, diff.deleted, diff.checkpoint];
          return [this.row({ kind: 'task', name: task.name, host: entry.name }), files];
        }),
      ]),
    );
  }

  /** A change row's command: the diff editor (another host's task: both sides from its server). */
  async open(node: unknown): Promise<string | undefined> {
    const change = node as Extract<Node, { kind: 'change' }>;
    const entry = this.hosts.find((h) => h.name === change.host);
    const review = entry === this.hosts[0] ? this.review : entry?.review;
    if (!review) {
      throw new ServerError(`host ${change.host} is not one of ctask.hosts (any more); reload the window`);
    }
    return review.openDiff(change.task, change.path, change.change, change.checkpoint);
  }
}
