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
 *
 * A task of another host (`ctask.hosts`, SPEC 10) has no file on this machine:
 * both sides come from its server, `host=HOST` in their query, the right one a
 * read-only document of the file as it is now there (`current=1`: `ctask.fileAt`
 * with `current`, never cached; asked again when that task's diff changes and
 * after a revert).  Revert File works on it as on a local one.
 */
import * as path from 'node:path';
import { ErrorKind, ServerCommand } from './constants';
import { ServerError } from './errors';
import type { DiffResult } from './protocol';
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
  /** The checkpoint of the diff; none only for a file now opened on its own (a session without checkpoints). */
  checkpoint?: number;
  /** An empty document: the file did not exist then (left) or does not now (right). */
  absent?: boolean;
  /** The task is another host's (SPEC 10): its server gives the text. */
  host?: string;
  /** The file as it is now (the right side of another host's diff), not at the checkpoint. */
  current?: boolean;
}

export function checkpointRef(doc: CheckpointDoc): api.DocRef {
  const query = new URLSearchParams({ task: doc.task });
  if (doc.checkpoint !== undefined) {
    query.set('checkpoint', String(doc.checkpoint));
  }
  if (doc.absent) {
    query.set('absent', '1');
  }
  if (doc.host) {
    query.set('host', doc.host);
  }
  if (doc.current) {
    query.set('current', '1');
  }
  return { scheme: CHECKPOINT_SCHEME, path: `/${doc.path}`, query: query.toString() };
}

export function parseCheckpointRef(ref: api.DocRef | undefined): CheckpointDoc | undefined {
  if (ref?.scheme !== CHECKPOINT_SCHEME) {
    return undefined;
  }
  const query = new URLSearchParams(ref.query ?? '');
  const task = query.get('task');
  const raw = query.get('checkpoint');
  const checkpoint = raw === null ? undefined : Number(raw);
  const current = query.get('current') === '1';
  if (!task || !ref.path.startsWith('/') || (checkpoint === undefined ? !current : !Number.isInteger(checkpoint))) {
    return undefined;
  }
  const doc: CheckpointDoc = { task, path: ref.path.slice(1), checkpoint, absent: query.get('absent') === '1' };
  const host = query.get('host');
  if (host) {
    doc.host = host;
  }
  if (current) {
    doc.current = true;
  }
  return doc;
}

interface FileAtResult {
  content: string;
  checkpoint: { n: number } | null;
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
  /** Another host's task (SPEC 10). */
  host?: string;
}

/** A task's name in messages: `HOST:NAME` for another host's. */
function who(task: string, host: string | undefined): string {
  return host ? `${host}:${task}` : task;
}

export class Review {
  private readonly cache = new Map<string, string>();
  /** The other hosts' reviews, on this machine's (the one content provider and Revert File serve them all). */
  private readonly hosts = new Map<string, Review>();
  /** The documents of files as they are now that were shown (another host's), by their URI's text. */
  private readonly current = new Map<string, CheckpointDoc>();
  private changed: (ref: api.DocRef) => void = () => undefined;

  constructor(
    private readonly server: Server,
    private readonly store: TaskStore,
    /** Set for another host's tasks (SPEC 10). */
    private readonly host?: string,
  ) {}

  register(): api.Disposable[] {
    const track = (): void => {
      void api.setContext(DIFF_CONTEXT, parseCheckpointRef(api.activeDiff()?.original) !== undefined);
    };
    track();
    const docs = api.registerDocuments(CHECKPOINT_SCHEME, (ref) => this.provide(ref));
    this.changed = docs.changed;
    return [docs.disposable, api.onDidChangeTabs(track)];
  }

  /** Serve another host's documents too (this machine's review holds them all). */
  addHost(name: string, review: Review): void {
    this.hosts.set(name, review);
    review.changed = (ref) => this.changed(ref);
  }

  /** The review of HOST's tasks (this one for none, or its own host). */
  private of(host: string | undefined): Review {
    const review = host === undefined || host === this.host ? this : this.hosts.get(host);
    if (!review) {
      throw new ServerError(`host ${host ?? ''} is not one of ctask.hosts (any more); reload the window`);
    }
    return review;
  }

  /** The text of a checkpoint document (its content provider). */
  async provide(ref: api.DocRef): Promise<string> {
    const doc = parseCheckpointRef(ref);
    if (!doc) {
      throw new ServerError(`not a ctask checkpoint document: ${ref.path}`);
    }
    if (doc.absent) {
      return '';
    }
    const review = this.of(doc.host);
    return doc.current ? review.now(doc) : review.content(doc);
  }

  /** The text of a file of another host's task as it is now (never cached: it changes). */
  private async now(doc: CheckpointDoc): Promise<string> {
    const ref = checkpointRef(doc);
    const key = `${ref.path}?${ref.query ?? ''}`;
    this.current.delete(key);
    if (this.current.size >= CACHE_SIZE) {
      this.current.delete(this.current.keys().next().value as string);
    }
    this.current.set(key, doc);
    const result = await this.server.execute<FileAtResult>(ServerCommand.fileAt, { name: doc.task, path: doc.path, current: true });
    return result.content;
  }

  /** TASK's files changed (a diff came, a revert ran): its open documents of files as they are now are read again. */
  taskChanged(task: string): void {
    for (const doc of this.current.values()) {
      if (doc.task === task) {
        this.changed(checkpointRef(doc));
      }
    }
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
    if (!workspace && !this.host) {
      throw new ServerError(`the tree of task ${name} is not known; run ctask: List Tasks and try again`);
    }
    // The file now: this machine's own file, or (another host's) a read-only document its server gives.
    const real = workspace && !this.host ? path.join(workspace, file) : undefined;
    const here = (n: number | undefined): CheckpointDoc => ({ task: name, path: file, checkpoint: n, host: this.host, current: true });
    const offerFile = async (message: string): Promise<undefined> => {
      if (kind === 'deleted') {
        void api.showWarningMessage(message);
      } else if ((await api.showWarningMessage(message, 'Open File')) === 'Open File') {
        if (real) {
          await api.openFile(real);
        } else {
          const doc = here(checkpoint ?? undefined);
          this.changed(checkpointRef(doc)); // an earlier look at it may still be open
          await api.openDocument(checkpointRef(doc));
        }
      }
      return undefined;
    };
    const shown = who(name, this.host);
    if (checkpoint === null || checkpoint === undefined) {
      // The row may be older than its session's start checkpoint (a large tree's first one takes a while): ask.
      checkpoint = await this.server.execute<DiffResult>(ServerCommand.diff, { name }).then(
        (fresh) => fresh.checkpoint,
        () => undefined,
      );
    }
    if (checkpoint === null || checkpoint === undefined) {
      return offerFile(`ctask: task ${shown} has no checkpoint of its session's start to compare ${file} with`);
    }
    const old: CheckpointDoc = { task: name, path: file, checkpoint, absent: kind === 'added', host: this.host };
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
    let now: api.DocRef;
    if (kind === 'deleted') {
      now = checkpointRef({ ...old, absent: true });
    } else if (real) {
      now = { scheme: 'file', path: real };
    } else {
      now = checkpointRef(here(checkpoint));
      this.changed(now); // an earlier look at it may still be open
    }
    const title = `${path.basename(file)} (${shown}: checkpoint ${checkpoint} ↔ ${kind === 'deleted' ? 'deleted' : 'now'})`;
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
      `Put ${target.path} of task ${who(target.task, target.host)} back as it was at ${at}? ctask takes a checkpoint first, so you can undo this.`,
      ['Revert'],
      'Cancel',
    );
    if (sure !== 'Revert') {
      return undefined;
    }
    return this.of(target.host).revert(target);
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
        `The agent of task ${who(target.task, target.host)} is running and may be writing ${target.path}. Revert it anyway?`,
        ['Revert Anyway'],
        'Cancel',
      );
      if (force !== 'Revert Anyway') {
        return undefined;
      }
      result = await this.server.execute<RevertResult>(ServerCommand.revert, { ...args, force: true });
    }
    this.taskChanged(target.task);
    const what = result.deleted.length ? 'deleted (it did not exist then)' : 'restored';
    const undo = await api.showInformationMessage(
      `ctask: ${target.path} of task ${who(target.task, target.host)} ${what} as at checkpoint ${result.to.n}; checkpoint ${result.before.n} has it as it was`,
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
      return { task: row.task, path: row.path, checkpoint: typeof row.checkpoint === 'number' ? row.checkpoint : undefined, host: this.host };
    }
    const ref = api.refArg(arg);
    const diff = api.activeDiff();
    // A checkpoint document opened on its own (a host's file that could not be compared, "Open File") too.
    const doc = parseCheckpointRef(ref) ?? parseCheckpointRef(diff?.original) ?? (ref ? undefined : parseCheckpointRef(api.activeDocRef()));
    if (doc && (!ref || ref.scheme !== 'file')) {
      return { task: doc.task, path: doc.path, checkpoint: doc.checkpoint, host: doc.host };
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
