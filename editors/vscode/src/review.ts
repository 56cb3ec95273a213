/**
 * Review (SPEC 3.13) in VS Code's own diff editor: a file of a task's tree at
 * a checkpoint (left, read-only, from `ctask.fileAt`) against the file now
 * (right, the real file, editable).  A file the agent added is compared with
 * an empty document, one it deleted with an empty one on the right.  From
 * that diff (its title-bar button, or the palette while it is active) "ctask:
 * Revert File to Checkpoint" puts the file back after a modal confirmation;
 * ctask takes a checkpoint first, and the message that follows offers Undo.
 *
 * Left sides are documents of the `ctask-checkpoint` scheme:
 * `ctask-checkpoint:/PATH?task=NAME&checkpoint=N` (PATH relative to the tree,
 * so the language is the file's own).  A checkpoint never changes, so their
 * text is cached.
 */
import * as path from 'node:path';
import { ErrorKind, ServerCommand } from './constants';
import { ServerError } from './errors';
import type { Server } from './server';
import type { TaskStore } from './state';
import * as api from './vscodeapi';

export const CHECKPOINT_SCHEME = 'ctask-checkpoint';
/** The context key `when` clauses use: the active editor is a diff against a checkpoint. */
export const DIFF_CONTEXT = 'ctask.checkpointDiff';
/** `reason` of the TaskBusy `ctask.revert` answers while the agent runs (without `force`). */
const AGENT_RUNNING = 'agent_running';
const CACHE_SIZE = 64;

export type ChangeKind = 'added' | 'modified' | 'deleted';

/** One side of a review diff that is not the file itself. */
export interface CheckpointDoc {
  task: string;
  /** Relative to the task's tree, `/`-separated. */
  path: string;
  checkpoint: number;
  /** An empty document: the file did not exist then (left) or does not now (right). */
  absent?: boolean;
}

export function checkpointRef(doc: CheckpointDoc): api.DocRef {
  const query = new URLSearchParams({ task: doc.task, checkpoint: String(doc.checkpoint) });
  if (doc.absent) {
    query.set('absent', '1');
  }
  return { scheme: CHECKPOINT_SCHEME, path: `/${doc.path}`, query: query.toString() };
}

export function parseCheckpointRef(ref: api.DocRef | undefined): CheckpointDoc | undefined {
  if (ref?.scheme !== CHECKPOINT_SCHEME) {
    return undefined;
  }
  const query = new URLSearchParams(ref.query ?? '');
  const task = query.get('task');
  const checkpoint = Number(query.get('checkpoint'));
  if (!task || !Number.isInteger(checkpoint) || !ref.path.startsWith('/')) {
    return undefined;
  }
  return { task, path: ref.path.slice(1), checkpoint, absent: query.get('absent') === '1' };
}

interface FileAtResult {
  content: string;
  checkpoint: { n: number };
}

interface RevertResult {
  task: string;
  to: { n: number };
  before: { n: number };
  restored: string[];
  deleted: string[];
}

/** What a revert acts on: a file of a task's tree, and the checkpoint (default: the session's start). */
interface Target {
  task: string;
  path: string;
  checkpoint?: number;
}

export class Review {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly server: Server,
    private readonly store: TaskStore,
  ) {}

  register(): api.Disposable[] {
    const track = (): void => {
      void api.setContext(DIFF_CONTEXT, parseCheckpointRef(api.activeDiff()?.original) !== undefined);
    };
    track();
    return [api.registerDocuments(CHECKPOINT_SCHEME, (ref) => this.provide(ref)), api.onDidChangeTabs(track)];
  }

  /** The text of a checkpoint document (its content provider). */
  async provide(ref: api.DocRef): Promise<string> {
    const doc = parseCheckpointRef(ref);
    if (!doc) {
      throw new ServerError(`not a ctask checkpoint document: ${ref.path}`);
    }
    return doc.absent ? '' : this.content(doc);
  }

  private async content(doc: CheckpointDoc): Promise<string> {
    const key = `${doc.task}\0${doc.checkpoint}\0${doc.path}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      return hit;
    }
    const result = await this.server.execute<FileAtResult>(ServerCommand.fileAt, {
      name: doc.task,
      path: doc.path,
      checkpoint: String(doc.checkpoint),
    });
    if (this.cache.size >= CACHE_SIZE) {
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(key, result.content);
    return result.content;
  }

  /**
   * Open FILE (relative to task NAME's tree) in the diff editor against CHECKPOINT.
   * Returns the title, or undefined when it was not opened (no checkpoint, a binary or oversized file: a message
   * says so and offers the file itself).
   */
  async openDiff(name: string, file: string, kind: ChangeKind, checkpoint: number | null | undefined): Promise<string | undefined> {
    const workspace = this.store.get(name)?.workspace;
    if (!workspace) {
      throw new ServerError(`the tree of task ${name} is not known; run ctask: List Tasks and try again`);
    }
    const real = path.join(workspace, file);
    const offerFile = async (message: string): Promise<undefined> => {
      if (kind === 'deleted') {
        void api.showWarningMessage(message);
      } else if ((await api.showWarningMessage(message, 'Open File')) === 'Open File') {
        await api.openFile(real);
      }
      return undefined;
    };
    if (checkpoint === null || checkpoint === undefined) {
      return offerFile(`ctask: task ${name} has no checkpoint of its session's start to compare ${file} with`);
    }
    const old: CheckpointDoc = { task: name, path: file, checkpoint, absent: kind === 'added' };
    if (!old.absent) {
      try {
        await this.content(old); // binary, oversized: say so here, not in an editor that cannot open
      } catch (error) {
        if (error instanceof ServerError && error.kind === ErrorKind.invalidArgument) {
          return offerFile(`ctask: cannot compare: ${error.message}`);
        }
        throw error;
      }
    }
    const now: api.DocRef = kind === 'deleted' ? checkpointRef({ ...old, absent: true }) : { scheme: 'file', path: real };
    const title = `${path.basename(file)} (${name}: checkpoint ${checkpoint} ↔ ${kind === 'deleted' ? 'deleted' : 'now'})`;
    await api.openDiff(checkpointRef(old), now, title);
    return title;
  }

  /**
   * `ctask: Revert File to Checkpoint`: the file of the active checkpoint diff (or ARG: a changed file of the task
   * view, a URI from a menu; else the active editor's file of a task's tree) back as it was, after a modal
   * confirmation.
   */
  async revertFile(arg?: unknown): Promise<RevertResult | undefined> {
    const target = this.target(arg);
    if (!target) {
      throw new ServerError("nothing to revert: open a task's file, or its diff from ctask: Show Changes, first");
    }
    const at = target.checkpoint === undefined ? "its session's start" : `checkpoint ${target.checkpoint}`;
    const sure = await api.showModal(
      'warning',
      `Put ${target.path} of task ${target.task} back as it was at ${at}? ctask takes a checkpoint first, so you can undo this.`,
      ['Revert'],
      'Cancel',
    );
    if (sure !== 'Revert') {
      return undefined;
    }
    return this.revert(target);
  }

  private async revert(target: Target): Promise<RevertResult | undefined> {
    const args = { name: target.task, paths: [target.path], to: target.checkpoint === undefined ? undefined : String(target.checkpoint) };
    let result: RevertResult;
    try {
      result = await this.server.execute<RevertResult>(ServerCommand.revert, args);
    } catch (error) {
      if (!(error instanceof ServerError && error.kind === ErrorKind.taskBusy && error.data?.reason === AGENT_RUNNING)) {
        throw error;
      }
      const force = await api.showModal(
        'warning',
        `The agent of task ${target.task} is running and may be writing ${target.path}. Revert it anyway?`,
        ['Revert Anyway'],
        'Cancel',
      );
      if (force !== 'Revert Anyway') {
        return undefined;
      }
      result = await this.server.execute<RevertResult>(ServerCommand.revert, { ...args, force: true });
    }
    const what = result.deleted.length ? 'deleted (it did not exist then)' : 'restored';
    const undo = await api.showInformationMessage(
      `ctask: ${target.path} of task ${target.task} ${what} as at checkpoint ${result.to.n}; checkpoint ${result.before.n} has it as it was`,
      'Undo',
    );
    if (undo === 'Undo') {
      return this.revert({ ...target, checkpoint: result.before.n });
    }
    return result;
  }

  private target(arg: unknown): Target | undefined {
    const row = arg as { kind?: unknown; task?: unknown; path?: unknown; checkpoint?: unknown } | undefined;
    if (row?.kind === 'change' && typeof row.task === 'string' && typeof row.path === 'string') {
      // A changed file of the task view.
      return { task: row.task, path: row.path, checkpoint: typeof row.checkpoint === 'number' ? row.checkpoint : undefined };
    }
    const ref = api.refArg(arg);
    const diff = api.activeDiff();
    const doc = parseCheckpointRef(ref) ?? parseCheckpointRef(diff?.original);
    if (doc && (!ref || ref.scheme !== 'file')) {
      return { task: doc.task, path: doc.path, checkpoint: doc.checkpoint };
    }
    const file = ref?.scheme === 'file' ? ref.path : api.activeFilePath();
    if (file === undefined) {
      return undefined;
    }
    if (doc && diff?.modified.scheme === 'file' && diff.modified.path === file) {
      return { task: doc.task, path: doc.path, checkpoint: doc.checkpoint };
    }
    return this.locate(file);
  }

  /** The task whose tree holds FILE, and the path inside it (the deepest tree wins). */
  private locate(file: string): Target | undefined {
    let best: Target | undefined;
    let depth = -1;
    for (const task of this.store.all()) {
      const root = task.workspace ? path.resolve(task.workspace) : undefined;
      if (root && file.startsWith(root + path.sep) && root.length > depth) {
        best = { task: task.name, path: path.relative(root, file).split(path.sep).join('/') };
        depth = root.length;
      }
    }
    return best;
  }
}
