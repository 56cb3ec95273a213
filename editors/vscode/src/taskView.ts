/**
 * The ctask view in the activity bar: every task with its lease and its
 * agent's activity (the status bar's words and icons), and beneath it the
 * files its session changed, each opening VS Code's diff editor against the
 * session's start checkpoint.  Inline actions (package.json `view/item/context`)
 * go by the row's `viewItem`:
 *   `task.running` / `task.running.remote` / `task.stopped`: Attach and Stop, Show Changes, Remove;
 *   `change.added` / `change.modified` / `change.deleted`: Revert File.
 * It redraws when the store changes (notifications), never on a timer.  A
 * task's files come from its live or final `ctask/diff`, else one `ctask.diff`
 * when it is expanded.
 */
import * as path from 'node:path';
import { Command, LeaseState, ServerCommand } from './constants';
import type { DiffParams, DiffResult } from './protocol';
import type { ChangeKind, Review } from './review';
import type { Server } from './server';
import { isFresh, type TaskStore, type TaskView } from './state';
import { activityLook, stateLook } from './statusBar';
import type * as api from './vscodeapi';

export const VIEW_ID = 'ctask.tasks';

export type Node =
  | { kind: 'task'; name: string }
  | { kind: 'change'; task: string; path: string; change: ChangeKind; checkpoint: number | null | undefined }
  | { kind: 'note'; task: string; text: string };

const CHANGE_ICONS: Record<ChangeKind, string> = { added: 'diff-added', modified: 'diff-modified', deleted: 'diff-removed' };

function running(task: TaskView): boolean {
  return Boolean(task.tmux_alive) || isFresh(task.lease.state);
}

export class TaskTree implements api.TreeSource<Node> {
  constructor(
    private readonly server: Server,
    private readonly store: TaskStore,
    private readonly review: Review,
  ) {}

  async children(element?: Node): Promise<Node[]> {
    if (element === undefined) {
      if (this.server.state === 'idle') {
        await this.server.start(); // the view is the first use in this window; its tasks come as notifications
      }
      return this.store.all().map((task) => ({ kind: 'task', name: task.name }));
    }
    if (element.kind !== 'task') {
      return [];
    }
    const name = element.name;
    let diff: DiffParams | DiffResult | undefined = this.store.diff(name);
    if (!diff) {
      try {
        diff = await this.server.execute<DiffResult>(ServerCommand.diff, { name });
      } catch (error) {
        return [{ kind: 'note', task: name, text: error instanceof Error ? error.message : String(error) }];
      }
    }
    const nodes: Node[] = [];
    for (const change of ['added', 'modified', 'deleted'] as const) {
      for (const file of diff[change] ?? []) {
        nodes.push({ kind: 'change', task: name, path: file, change, checkpoint: diff.checkpoint });
      }
    }
    return nodes.length ? nodes : [{ kind: 'note', task: name, text: 'no changes' }];
  }

  row(node: Node): api.TreeRow {
    if (node.kind === 'note') {
      return { id: `${node.task}\0note`, label: node.text, expandable: false, icon: { id: 'info' } };
    }
    if (node.kind === 'change') {
      const workspace = this.store.get(node.task)?.workspace;
      return {
        id: `${node.task}\0${node.change}\0${node.path}`,
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
    const task = this.store.get(node.name);
    if (!task) {
      return { id: node.name, label: node.name, expandable: false };
    }
    const ended = task.lease.state === LeaseState.missing && !task.tmux_alive && this.store.endedSummary(task.name) !== undefined;
    const lease = stateLook(task, ended);
    const activity = running(task) ? activityLook(task.activity) : undefined;
    // A lease another host holds says "on HOST" (the words of the status bar).
    const words = [lease.words, activity?.words].filter(Boolean).join(' · ');
    const warn = activity?.warning || lease.warning;
    return {
      id: task.name,
      label: task.name,
      description: [words, task.description ?? ''].filter(Boolean).join(' — '),
      tooltip: [`${task.name}: ${lease.says}`, task.repo ? `branch ${task.repo.branch}` : '', task.workspace].filter(Boolean).join('\n'),
      icon: { id: activity?.warning ? activity.icon : lease.icon, color: warn ? 'list.warningForeground' : undefined },
      contextValue: running(task) ? (task.lease.state === LeaseState.freshRemote ? 'task.running.remote' : 'task.running') : 'task.stopped',
      expandable: true,
    };
  }

  /** A change row's command: the diff editor. */
  open(node: unknown): Promise<string | undefined> {
    const change = node as Extract<Node, { kind: 'change' }>;
    return this.review.openDiff(change.task, change.path, change.change, change.checkpoint);
  }
}
