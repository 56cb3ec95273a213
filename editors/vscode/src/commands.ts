/**
 * The command palette: every `ctask: ...` command, the task pickers and the
 * actions of the status-bar item.  Server failures become one error line.
 */
import * as path from 'node:path';
import { ActivityState, Command, ErrorKind, GitReason, SECTION, ServerCommand, Setting, defaultBranch } from './constants';
import { ServerError, oneLine } from './errors';
import { validateBranchName, validateTaskName } from './names';
import type { ActivityParams, DiffParams, DiffResult, GitSummary, LaunchResult, OpenResult, RepoJson, SessionEndedParams, Summary, TaskJson } from './protocol';
import type { Server } from './server';
import { isRunning, type TaskStore, type TaskView } from './state';
import { activityLook, stateLook } from './statusBar';
import { Review, type ChangeKind } from './review';
import { remoteTerminal, type HostSpec } from './settings';
import { openTerminal } from './terminal';
import * as api from './vscodeapi';

/** Which host's commands run a command: the host a view row names, else one the user picks (SPEC 10). */
export interface Router {
  /** The commands of ARG's host, or (no argument, several hosts) of the host the user picks; undefined: cancelled. */
  route(arg: unknown, command: string): Promise<Commands | undefined>;
}

export interface CommandDeps {
  server: Server;
  store: TaskStore;
  /** Another host's commands (SPEC 10): its terminals run `ssh -t`, its messages name it. */
  host?: HostSpec;
  /** Set on this machine's commands when hosts are configured. */
  router?: Router;
  /** Paths of the open workspace folders. */
  folders: () => string[];
  /** Where "Show Log" writes the session history. */
  logChannel: api.OutputChannel;
}

/** `ctask.remove` refuses these without `force`: uncommitted changes, unmerged commits, a repository that is gone. */
const FORCIBLE_GIT_REASONS: readonly string[] = [GitReason.dirty, GitReason.unmerged, GitReason.repoMissing];

interface RemoveResult {
  removed?: string;
  workspace?: string;
  warnings?: string[];
  branch?: string;
  branch_deleted?: boolean;
}

const ATTACH = 'Attach';
const SHOW_CHANGES = 'Show Changes';

/** `ctask.notifications` (default true): announce needs_input and ended sessions. */
function notificationsOn(): boolean {
  return api.getConfiguration(SECTION).get<boolean>(Setting.notifications, true) !== false;
}

interface TaskItem extends api.QuickPickItem {
  name: string;
}

interface ActionItem extends api.QuickPickItem {
  run?: () => Promise<unknown>;
}

/** A task name from a command argument: `"name"` or `{name}` (status actions, keybindings, other extensions). */
export function nameArg(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) {
    return arg;
  }
  if (typeof arg === 'object' && arg !== null && typeof (arg as { name?: unknown }).name === 'string') {
    return (arg as { name: string }).name;
  }
  return undefined;
}

function countsText(c: { added: number; modified: number; deleted: number } | undefined): string {
  return c ? `+${c.added} ~${c.modified} -${c.deleted}` : '';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `; branch B: 2 commits, 1 uncommitted change` for a repo task's session, '' otherwise. */
function gitText(summary: Summary): string {
  const git = summary.git;
  if (!git || typeof git !== 'object' || !git.branch) {
    return '';
  }
  const parts = [plural(git.counts?.commits ?? git.commits?.length ?? 0, 'commit')];
  const uncommitted = git.counts?.uncommitted ?? git.uncommitted?.length ?? 0;
  if (uncommitted) {
    parts.push(plural(uncommitted, 'uncommitted change'));
  }
  return `; branch ${git.branch}: ${parts.join(', ')}`;
}

function summaryLine(name: string, summary: Summary): string {
  const reason = (summary.end_reason ?? 'ended').replace(/_/g, ' ');
  const status = typeof summary.exit_status === 'number' ? ` (exit status ${summary.exit_status})` : '';
  const counts = summary.counts ? `, changes ${countsText(summary.counts)}` : '';
  return `ctask: task ${name} ended: ${reason}${status}${counts}${gitText(summary)}`;
}

/** The launch arguments a command argument may carry (keybindings, other extensions). */
function launchOptions(arg: unknown, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof arg === 'object' && arg !== null) {
    for (const key of keys) {
      const value = (arg as Record<string, unknown>)[key];
      if (typeof value === 'string' && value) {
        out[key] = value;
      }
    }
  }
  return out;
}

/** `ctask.list` returns an array of tasks (a `{tasks}` object is accepted too). */
export function taskList(result: unknown): TaskJson[] {
  const list = Array.isArray(result) ? result : (result as { tasks?: unknown } | null)?.tasks;
  return Array.isArray(list) ? (list as TaskJson[]).filter((t) => t && typeof t.name === 'string') : [];
}

/** An item of Show Changes: a file of the workspace, or one under ROOT (git's view of a repo task's worktree). */
type ChangeItem = api.QuickPickItem & { file?: string; gone?: boolean; root?: string; change?: ChangeKind };

/**
 * Git's view of a repo task as Show Changes items: the commits on its branch,
 * the files committed since the base and the uncommitted ones (under the
 * worktree), or one separator saying why git's view is unavailable.
 */
export function gitChangeItems(git: GitSummary): ChangeItem[] {
  if (git.error !== undefined && git.error !== null) {
    return [api.separator(`Git's view is unavailable: ${oneLine(String(git.error))}`)];
  }
  const items: ChangeItem[] = [];
  const commits = git.commits ?? [];
  const counts = git.counts ?? {};
  if (commits.length) {
    const base = (git.base ?? '').slice(0, 10);
    items.push(api.separator(`Commits on ${git.branch ?? '?'} since ${base} (${counts.commits ?? commits.length})`));
    items.push(...commits.map((c) => ({ label: `$(git-commit) ${c.subject}`, description: c.sha.slice(0, 10) })));
  }
  const groups: [string, { status: string; path: string }[], number | undefined][] = [
    ['Committed vs base', git.committed ?? [], counts.committed],
    ['Uncommitted', git.uncommitted ?? [], counts.uncommitted],
  ];
  for (const [label, entries, count] of groups) {
    if (entries.length) {
      items.push(api.separator(`${label} (${count ?? entries.length})`));
      items.push(
        ...entries.map((e) => ({
          label: e.path,
          description: e.status,
          file: e.path,
          root: git.worktree,
          gone: e.status.includes('D'),
        })),
      );
    }
  }
  return items;
}

export class Commands {
  readonly review: Review;

  constructor(private readonly d: CommandDeps) {
    this.review = new Review(d.server, d.store, d.host?.name);
  }

  /** The command handlers by command id (the palette's, a view row's). */
  handlers(): Map<string, (arg: unknown) => Promise<unknown>> {
    return new Map<string, (arg: unknown) => Promise<unknown>>([
      [Command.newTask, (a) => this.newTask(a)],
      [Command.newTaskFromRepository, (a) => this.newTaskFromRepository(a)],
      [Command.resumeTask, (a) => this.resumeTask(a)],
      [Command.resumeLast, () => this.resumeLast()],
      [Command.openTaskFolder, (a) => this.openTaskFolder(a)],
      [Command.attach, (a) => this.attach(a)],
      [Command.stop, (a) => this.stop(a)],
      [Command.showChanges, (a) => this.showChanges(a)],
      [Command.showLog, (a) => this.showLog(a)],
      [Command.listTasks, () => this.listTasks()],
      [Command.removeTask, (a) => this.removeTask(a)],
      [Command.restartServer, () => this.restartServer()],
      [Command.statusActions, () => this.statusActions()],
      [Command.revertFile, (a) => this.review.revertFile(a)],
    ]);
  }

  /** Register every palette command; the disposables go into context.subscriptions. */
  register(): api.Disposable[] {
    const commands = [...this.handlers().keys()].map((id) =>
      api.registerCommand(id, (...args: unknown[]) =>
        this.run(async () => {
          const target = this.d.router ? await this.d.router.route(args[0], id) : this;
          return target?.handlers().get(id)?.(args[0]);
        }),
      ),
    );
    return [...commands, ...this.review.register()];
  }

  /** A task's name in messages: `HOST:NAME` for another host's. */
  private who(name: string): string {
    return this.d.host ? `${this.d.host.name}:${name}` : name;
  }

  /** Run one command: a failure is shown as one error line, never thrown at VS Code. */
  async run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      void api.showErrorMessage(`ctask: ${oneLine(message)}`);
      return undefined;
    }
  }

  current(): TaskView | undefined {
    return this.d.store.current(this.d.folders());
  }

  // --- launching --------------------------------------------------------------

  /** The task name: from the argument (checked), else asked in an input box; undefined when cancelled. */
  private async taskName(arg: unknown, title: string, prompt: string): Promise<string | undefined> {
    const given = nameArg(arg);
    if (given !== undefined) {
      const problem = validateTaskName(given);
      if (problem) {
        throw new ServerError(problem, ErrorKind.invalidName);
      }
      return given;
    }
    return api.showInputBox({
      title,
      prompt,
      placeHolder: 'fix-login',
      ignoreFocusOut: true,
      validateInput: (value) => validateTaskName(value, this.d.store.names()),
    });
  }

  /** Send `ctask.new`; a TaskExists error offers Resume instead. */
  private async create(name: string, args: Record<string, string>): Promise<LaunchResult | undefined> {
    try {
      return this.launched(name, await this.d.server.execute<LaunchResult>(ServerCommand.new, args), args.repo !== undefined);
    } catch (error) {
      if (error instanceof ServerError && error.kind === ErrorKind.taskExists) {
        void this.offer(`ctask: ${error.message}`, 'Resume', () => this.resumeTask(name));
        return undefined;
      }
      throw error;
    }
  }

  async newTask(arg?: unknown): Promise<LaunchResult | undefined> {
    const name = await this.taskName(
      arg,
      'ctask: New Task',
      'Name of the new task: letters, digits, ".", "_" and "-", starting with a letter or digit',
    );
    if (name === undefined) {
      return undefined;
    }
    return this.create(name, { name, ...launchOptions(arg, ['agent', 'description']) });
  }

  /**
   * The folder "This Repository" means: the workspace folder of the active
   * editor, else the only workspace folder, else the one the user picks.
   */
  async repositoryFolder(): Promise<string | undefined> {
    const folders = this.d.folders();
    if (!folders.length) {
      throw new Error(
        'no folder is open: open a folder inside a git repository (File › Open Folder…), then run "ctask: New Task from This Repository" again',
      );
    }
    const active = api.activeEditorFolderPath();
    if (active !== undefined && folders.includes(active)) {
      return active;
    }
    if (folders.length === 1) {
      return folders[0];
    }
    const picked = await api.showQuickPick(
      folders.map((folder) => ({ label: `$(folder) ${path.basename(folder)}`, description: folder, folder })),
      { title: 'ctask: New Task from This Repository', placeHolder: 'Workspace folder whose git repository the task works on' },
    );
    return picked?.folder;
  }

  /** New Task from This Repository: a task on a new branch in a git worktree of the open folder's repository. */
  async newTaskFromRepository(arg?: unknown): Promise<LaunchResult | undefined> {
    const given = launchOptions(arg, ['repo', 'branch', 'base', 'agent', 'description']);
    const repo = given.repo ?? (await this.repositoryFolder());
    if (repo === undefined) {
      return undefined;
    }
    const title = 'ctask: New Task from This Repository';
    const name = await this.taskName(
      arg,
      title,
      `Name of the new task on the git repository of ${repo}: letters, digits, ".", "_" and "-"`,
    );
    if (name === undefined) {
      return undefined;
    }
    let branch: string | undefined = given.branch;
    if (branch === undefined && nameArg(arg) === undefined) {
      const answer = await api.showInputBox({
        title,
        prompt: `Branch the task works on, made from the repository's HEAD in a worktree of its own (Enter: ${defaultBranch(name)})`,
        placeHolder: defaultBranch(name),
        ignoreFocusOut: true,
        validateInput: (value) => (value.trim() === '' ? undefined : validateBranchName(value.trim())),
      });
      if (answer === undefined) {
        return undefined;
      }
      branch = answer.trim() || undefined;
    }
    const args: Record<string, string> = { name, repo, ...given };
    if (branch !== undefined) {
      args.branch = branch;
    }
    const result = await this.create(name, args);
    if (result) {
      await this.learnRepo(name, {
        path: repo,
        branch: branch ?? defaultBranch(name),
        base: given.base ?? null,
        base_ref: given.base ?? null,
        worktree: result.terminal?.cwd ?? '',
      });
    }
    return result;
  }

  /** After a launch on a repository: the branch at once, then the server's own account (`ctask.status`). */
  private async learnRepo(name: string, guess: RepoJson): Promise<void> {
    this.d.store.setRepo(name, guess);
    try {
      const status = await this.d.server.execute<TaskJson>(ServerCommand.status, { name });
      if (!this.d.store.get(name) && status?.name === name) {
        this.d.store.applyTask(status);
      } else if (status?.repo) {
        this.d.store.setRepo(name, status.repo);
      }
    } catch {
      // The guess stays; the next list or status poll brings the rest.
    }
  }

  async resumeTask(arg?: unknown): Promise<LaunchResult | undefined> {
    const name =
      nameArg(arg) ?? (await this.pickTask({ title: 'ctask: Resume Task', placeHolder: 'Task to resume (lease state shown)' }));
    if (name === undefined) {
      return undefined;
    }
    return this.launched(name, await this.d.server.execute<LaunchResult>(ServerCommand.resume, { name }));
  }

  async resumeLast(): Promise<LaunchResult | undefined> {
    const result = await this.d.server.execute<LaunchResult>(ServerCommand.last, {});
    const name = result?.task;
    if (name === undefined) {
      if (result?.terminal) {
        openTerminal(this.d.host ? remoteTerminal(result.terminal, this.d.host) : result.terminal);
      }
      return result;
    }
    return this.launched(name, result);
  }

  async attach(arg?: unknown): Promise<LaunchResult | undefined> {
    const name =
      nameArg(arg) ??
      (await this.pickTask({
        title: 'ctask: Attach',
        placeHolder: 'Running task to attach to',
        filter: isRunning,
        empty: 'ctask: no task is running: use "ctask: Resume Task" to start one',
      }));
    if (name === undefined) {
      return undefined;
    }
    try {
      return this.launched(name, await this.d.server.execute<LaunchResult>(ServerCommand.attach, { name }));
    } catch (error) {
      if (error instanceof ServerError && error.kind === ErrorKind.noSession) {
        void this.offer(`ctask: ${error.message}`, 'Resume', () => this.resumeTask(name));
        return undefined;
      }
      throw error;
    }
  }

  /** After a launching command: remember the task, show its state, open its terminal. */
  private launched(name: string, result: LaunchResult | undefined, onRepo = false): LaunchResult | undefined {
    this.d.store.setLastActed(name);
    // Notifications are the authority on the lease; the result only fills in a task not heard of yet.
    if (!this.d.store.get(name) && result?.session && result.terminal && !onRepo) {
      // The terminal runs in the workspace (for a task on a repository: in its worktree, so not this way).
      this.d.store.applyLaunch(name, result.terminal.cwd, result.session);
    }
    if (result?.action === 'passive') {
      const lease = result.session?.lease;
      const who = lease?.pid ? ` (pid ${lease.pid}${lease.host ? ` on ${lease.host}` : ''})` : '';
      void api.showInformationMessage(`ctask: task ${name} is owned by another process${who}; attaching without taking it over`);
    }
    if (result?.terminal) {
      openTerminal(this.d.host ? remoteTerminal(result.terminal, this.d.host) : result.terminal);
    }
    return result;
  }

  // --- other task commands ----------------------------------------------------

  async openTaskFolder(arg?: unknown): Promise<string | undefined> {
    const name = nameArg(arg) ?? (await this.pickTask({ title: 'ctask: Open Task Folder', placeHolder: 'Task whose folder to open' }));
    if (name === undefined) {
      return undefined;
    }
    const result = await this.d.server.execute<OpenResult | undefined>(ServerCommand.open, { name });
    this.d.store.setLastActed(name);
    // `folder`: what to open (a repo task's worktree); older servers only say `workspace`.
    const folder = [result?.folder, result?.workspace, this.d.store.get(name)?.workspace].find(
      (v): v is string => typeof v === 'string' && v.length > 0,
    );
    if (!folder) {
      throw new ServerError(`the server did not say where task ${name}'s folder is`);
    }
    if (this.d.host) {
      // Another host's folder opens over Remote-SSH (vscode-remote://ssh-remote+DEST/PATH).
      await api.openRemoteFolder(this.d.host.ssh, folder);
      return folder;
    }
    await api.openFolder(folder, this.d.folders().length > 0);
    return folder;
  }

  async stop(arg?: unknown): Promise<unknown> {
    const name =
      nameArg(arg) ??
      (await this.pickTask({
        title: 'ctask: Stop',
        placeHolder: 'Running task to stop (its agent is ended; the session is recorded)',
        filter: isRunning,
        empty: 'ctask: no task is running',
      }));
    if (name === undefined) {
      return undefined;
    }
    const result = await this.d.server.execute<Record<string, unknown>>(ServerCommand.stop, { name });
    this.d.store.setLastActed(name);
    const summary = result?.summary as Summary | undefined;
    void api.showInformationMessage(summary ? summaryLine(name, summary) : `ctask: stopped task ${name}`);
    return result;
  }

  async showChanges(arg?: unknown): Promise<string | undefined> {
    const name = nameArg(arg) ?? (await this.pickTask({ title: 'ctask: Show Changes', placeHolder: 'Task whose changes to list' }));
    if (name === undefined) {
      return undefined;
    }
    let diff: DiffParams | DiffResult | undefined = this.d.store.diff(name);
    if (!diff || (!diff.git && this.d.store.repo(name))) {
      // Notified diffs lack git's view of a repo task: the server's result has it.
      diff = await this.d.server.execute<DiffResult>(ServerCommand.diff, { name });
    }
    const live = 'final' in diff ? !diff.final : diff.live !== false;
    const when = live ? 'since its session started' : 'in its last session';
    const added = diff.added ?? [];
    const modified = diff.modified ?? [];
    const deleted = diff.deleted ?? [];
    const git = diff.git ?? undefined;
    const gitItems = git ? gitChangeItems({ worktree: this.d.store.repo(name)?.worktree, ...git }) : [];
    if (!added.length && !modified.length && !deleted.length && !gitItems.length) {
      void api.showInformationMessage(`ctask: task ${name} has no changes ${when}`);
      return undefined;
    }
    const groups: [ChangeKind, string, string, string[]][] = [
      ['added', 'Added', 'diff-added', added],
      ['modified', 'Modified', 'diff-modified', modified],
      ['deleted', 'Deleted', 'diff-removed', deleted],
    ];
    const items: ChangeItem[] = [];
    for (const [kind, label, icon, files] of groups) {
      if (files.length) {
        items.push(api.separator(`${label} (${files.length})`));
        items.push(...files.map((file) => ({ label: `$(${icon}) ${file}`, file, change: kind })));
      }
    }
    items.push(...gitItems);
    const counts = `+${added.length} ~${modified.length} -${deleted.length}`;
    const picked = await api.showQuickPick(items, {
      title: `ctask: changes of ${name} ${when} (${counts})`,
      placeHolder: 'File to compare with the checkpoint of the session start',
      matchOnDescription: true,
    });
    if (!picked?.file) {
      return undefined;
    }
    if (picked.change) {
      // ctask's own view: the file against the checkpoint the diff compares with, in VS Code's diff editor (both
      // sides from the server for another host's task).
      return this.review.openDiff(name, picked.file, picked.change, diff.checkpoint);
    }
    if (picked.gone) {
      void api.showInformationMessage(`ctask: ${picked.file} was deleted on its branch or in its worktree`);
      return undefined;
    }
    // Git's view (against the branch's base, not a checkpoint): the file itself.
    const root = picked.root ?? this.d.store.get(name)?.workspace;
    if (!root) {
      throw new ServerError(`the worktree of task ${name} is not known`);
    }
    const file = path.join(root, picked.file);
    await api.openFile(file);
    return file;
  }

  async showLog(arg?: unknown): Promise<unknown[] | undefined> {
    const name = nameArg(arg) ?? (await this.pickTask({ title: 'ctask: Show Log', placeHolder: 'Task whose sessions to list' }));
    if (name === undefined) {
      return undefined;
    }
    const result = await this.d.server.execute<unknown>(ServerCommand.log, { name });
    const sessions = (Array.isArray(result) ? result : ((result as { sessions?: unknown[] })?.sessions ?? [])) as Summary[];
    const out = this.d.logChannel;
    out.appendLine(`── task ${name}: ${sessions.length} finished session${sessions.length === 1 ? '' : 's'}`);
    for (const s of sessions) {
      const status = typeof s.exit_status === 'number' ? ` exit ${s.exit_status}` : '';
      out.appendLine(
        `${s.ended_at ?? '?'}  ${s.session_id ?? '?'}  ${s.end_reason ?? '?'}${status}  ${s.session_ownership ?? ''}  ` +
          `${s.duration_s ?? '?'}s  ${countsText(s.counts)}`,
      );
    }
    out.show(true);
    return sessions;
  }

  async listTasks(): Promise<void> {
    const name = await this.pickTask({ title: 'ctask: List Tasks', placeHolder: 'Tasks and their lease state: pick one for its actions' });
    if (name !== undefined) {
      await this.taskActions(name);
    }
  }

  async removeTask(arg?: unknown): Promise<boolean> {
    const name = nameArg(arg) ?? (await this.pickTask({ title: 'ctask: Remove Task', placeHolder: 'Task to remove with its workspace' }));
    if (name === undefined) {
      return false;
    }
    const repo = this.d.store.get(name)?.repo;
    const deleteBranch = repo ? `Remove and Delete Branch ${repo.branch}` : undefined;
    const forcible = (error: unknown): error is ServerError =>
      error instanceof ServerError &&
      (error.kind === ErrorKind.taskBusy || (error.kind === ErrorKind.gitError && FORCIBLE_GIT_REASONS.includes(String(error.data?.reason))));
    const args: { name: string; delete_branch?: boolean; force?: boolean } = { name };
    // The server's checks first, removing nothing: a running task or a dirty worktree is said before any question.
    let refusal: ServerError | undefined;
    try {
      await this.d.server.execute<unknown>(ServerCommand.remove, { name, dry_run: true });
    } catch (error) {
      if (!forcible(error)) {
        throw error;
      }
      refusal = error;
    }
    let result: RemoveResult | undefined;
    if (refusal) {
      const anyway = deleteBranch ? 'Remove Anyway and Delete Branch' : undefined;
      const sure = await api.showModal('warning', `${refusal.message}. Remove it anyway?`, anyway ? ['Remove Anyway', anyway] : ['Remove Anyway'], 'Cancel');
      if (sure !== 'Remove Anyway' && (anyway === undefined || sure !== anyway)) {
        return false;
      }
      args.force = true;
      if (sure === anyway) {
        args.delete_branch = true;
      }
      result = await this.d.server.execute<RemoveResult>(ServerCommand.remove, args);
    } else {
      const question = repo
        ? `Remove task ${name}, its workspace folder and its git worktree? The agent's files in them are deleted; its commits stay on branch ${repo.branch} unless you delete the branch too.`
        : `Remove task ${name} and its workspace folder? The agent's files in it are deleted.`;
      const sure = await api.showModal('warning', question, deleteBranch ? ['Remove', deleteBranch] : ['Remove'], 'Cancel');
      if (sure !== 'Remove' && (deleteBranch === undefined || sure !== deleteBranch)) {
        return false;
      }
      if (sure === deleteBranch) {
        args.delete_branch = true;
      }
      try {
        result = await this.d.server.execute<RemoveResult>(ServerCommand.remove, args);
      } catch (error) {
        // It changed since the check (the agent started, files changed): ask again before forcing.
        if (!forcible(error)) {
          throw error;
        }
        const force = await api.showModal('warning', `${error.message}. Remove it anyway?`, ['Remove Anyway'], 'Cancel');
        if (force !== 'Remove Anyway') {
          return false;
        }
        result = await this.d.server.execute<RemoveResult>(ServerCommand.remove, { ...args, force: true });
      }
    }
    this.d.store.remove(name);
    const branch = result?.branch_deleted ? ` and branch ${result.branch ?? repo?.branch}` : '';
    void api.showInformationMessage(`ctask: removed task ${name}${branch}`);
    for (const warning of Array.isArray(result?.warnings) ? result.warnings : []) {
      void api.showWarningMessage(`ctask: ${oneLine(String(warning))}`);
    }
    return true;
  }

  async restartServer(): Promise<void> {
    await this.d.server.restart();
  }

  // --- notifications ----------------------------------------------------------

  /**
   * `ctask/activity`: record it; when a task starts waiting for the user (`needs_input`) say so with
   * Attach / Show Changes, and when a session this window's server does not own ends (its owner's
   * server sends `ctask/sessionEnded`), say that too.  `ctask.notifications: false` keeps quiet.
   */
  activity(params: ActivityParams): void {
    const before = this.d.store.applyActivity(params);
    const now = params.activity?.state;
    if (now === before || !notificationsOn()) {
      return;
    }
    const name = params.name;
    let shown: Thenable<string | undefined> | undefined;
    if (now === ActivityState.needsInput) {
      const why = params.activity?.message ? ` (${oneLine(params.activity.message)})` : '';
      shown = api.showWarningMessage(`ctask: task ${this.who(name)} needs your input${why}`, ATTACH, SHOW_CHANGES);
    } else if ((now === undefined || now === ActivityState.exited) && before !== undefined && before !== ActivityState.exited) {
      // An owned session's end is ctask/sessionEnded's message (with its summary): not twice.
      if (this.d.store.get(name)?.owned_here !== true && this.d.store.endedSummary(name) === undefined) {
        shown = api.showInformationMessage(`ctask: task ${this.who(name)}: its session ended`, SHOW_CHANGES);
      }
    }
    void shown?.then((pick) => {
      if (pick === ATTACH) {
        void this.run(() => this.attach(name));
      } else if (pick === SHOW_CHANGES) {
        void this.run(() => this.showChanges(name));
      }
    });
  }

  /** `ctask/sessionEnded`: record it and say so, with the follow-up actions. */
  sessionEnded(params: SessionEndedParams): void {
    this.d.store.applySessionEnded(params.name, params.summary ?? {});
    if (!notificationsOn()) {
      return;
    }
    void api.showInformationMessage(summaryLine(this.who(params.name), params.summary ?? {}), 'Show Changes', 'Show Log').then((pick) => {
      if (pick === 'Show Changes') {
        void this.run(() => this.showChanges(params.name));
      } else if (pick === 'Show Log') {
        void this.run(() => this.showLog(params.name));
      }
    });
  }

  // --- pickers and actions ----------------------------------------------------

  /** Refresh the task list from the server (`ctask.list`). */
  async loadTasks(): Promise<TaskView[]> {
    this.d.store.applyList(taskList(await this.d.server.execute<unknown>(ServerCommand.list, {})));
    return this.d.store.all();
  }

  /** A quick pick of tasks with their lease state; the current task comes first. */
  async pickTask(opts: {
    title: string;
    placeHolder: string;
    filter?: (task: TaskView) => boolean;
    empty?: string;
  }): Promise<string | undefined> {
    const tasks = (await this.loadTasks()).filter(opts.filter ?? (() => true));
    if (!tasks.length) {
      void api.showInformationMessage(opts.empty ?? 'ctask: there are no tasks yet: run "ctask: New Task"');
      return undefined;
    }
    const current = this.current()?.name;
    const rank = (t: TaskView): number => (t.name === current ? 0 : isRunning(t) ? 1 : 2);
    tasks.sort((a, b) => rank(a) - rank(b) || (b.updated_at ?? '').localeCompare(a.updated_at ?? '') || a.name.localeCompare(b.name));
    const items: TaskItem[] = tasks.map((t) => {
      const look = stateLook(t, this.d.store.endedSummary(t.name) !== undefined);
      const last = t.last_summary?.counts ? `last session ${countsText(t.last_summary.counts)}` : '';
      return {
        name: t.name,
        label: `$(${look.icon}) ${t.name}`,
        description: [look.words, activityLook(t.activity)?.words ?? '', t.name === current ? '(current)' : ''].filter(Boolean).join(' '),
        detail: [t.repo ? `$(git-branch) ${t.repo.branch}` : '', t.description ?? '', t.lease.reason ?? '', last].filter(Boolean).join(' · ') || undefined,
      };
    });
    const picked = await api.showQuickPick(items, { title: opts.title, placeHolder: opts.placeHolder, matchOnDescription: true, matchOnDetail: true });
    return picked?.name;
  }

  private actionsFor(task: TaskView): ActionItem[] {
    const name = task.name;
    const items: ActionItem[] = [];
    if (isRunning(task)) {
      items.push({ label: '$(terminal) Attach', description: 'open a terminal on its tmux session', run: () => this.attach(name) });
      items.push({ label: '$(debug-stop) Stop', description: 'end the agent; the session is recorded', run: () => this.stop(name) });
    } else {
      items.push({ label: '$(play) Resume', description: 'start a new session of its agent', run: () => this.resumeTask(name) });
    }
    items.push({ label: '$(diff) Show Changes', run: () => this.showChanges(name) });
    items.push({ label: '$(history) Show Log', run: () => this.showLog(name) });
    items.push({ label: '$(folder-opened) Open Task Folder', run: () => this.openTaskFolder(name) });
    if (!isRunning(task)) {
      items.push({ label: '$(trash) Remove Task', run: () => this.removeTask(name) });
    }
    return items;
  }

  private globalActions(): ActionItem[] {
    const restart: ActionItem = { label: '$(debug-restart) Restart Server', run: () => this.restartServer() };
    const items: ActionItem[] = [
      { label: '$(add) New Task', run: () => this.newTask() },
      ...(this.d.folders().length
        ? [{ label: '$(git-branch) New Task from This Repository', run: () => this.newTaskFromRepository() }]
        : []),
      { label: '$(play) Resume Task', run: () => this.resumeTask() },
      { label: '$(history) Resume Last', run: () => this.resumeLast() },
      { label: '$(list-unordered) List Tasks', run: () => this.listTasks() },
      restart,
    ];
    return this.d.server.state === 'stopped' ? [restart, ...items.filter((i) => i !== restart)] : items;
  }

  async taskActions(name: string): Promise<unknown> {
    const task = this.d.store.get(name);
    const items: ActionItem[] = task ? [...this.actionsFor(task), api.separator('ctask'), ...this.globalActions()] : this.globalActions();
    const picked = await api.showQuickPick(items, { title: `ctask: ${name}`, placeHolder: `Action for task ${name}` });
    return picked?.run?.();
  }

  /** Clicking the status-bar item: the current task's actions, else the global ones. */
  async statusActions(): Promise<unknown> {
    const task = this.current();
    if (task && this.d.server.state !== 'stopped') {
      return this.taskActions(task.name);
    }
    const picked = await api.showQuickPick(this.globalActions(), { title: 'ctask', placeHolder: 'ctask action' });
    return picked?.run?.();
  }

  /** An error line with one follow-up action. */
  private async offer(message: string, action: string, run: () => Promise<unknown>): Promise<void> {
    if ((await api.showErrorMessage(message, action)) === action) {
      await this.run(run);
    }
  }
}
