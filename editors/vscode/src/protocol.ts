/**
 * Payloads exchanged with ctask-ls (SPEC section 4).  snake_case keys, RFC 3339
 * UTC times: the same shapes as the CLI's `--json` output.
 */
import type { LeaseStateName } from './constants';

/** `ctask/leaseState`: one task's lease, sent after `initialized` and on every change. */
export interface LeaseStateParams {
  name: string;
  workspace: string;
  state: LeaseStateName;
  reason?: string | null;
  session_id?: string | null;
  host?: string | null;
  pid?: number | null;
  agent?: string | null;
  mode?: string | null;
  heartbeat_at?: string | null;
  age_s?: number | null;
  tmux_session?: string | null;
  tmux_alive?: boolean;
  owned_here?: boolean;
  /** `cli` or `server`. */
  owner?: string | null;
  started_at?: string | null;
  /** A corrupt lease or task.yaml, with its path and what to do. */
  error?: string | null;
  /** True once: the task's workspace is gone. */
  removed?: boolean | null;
}

export interface Counts {
  added: number;
  modified: number;
  deleted: number;
}

/** `ctask/diff`: live while the server owns a session, once more with `final: true`. */
export interface DiffParams {
  name: string;
  session_id?: string | null;
  final?: boolean;
  live?: boolean;
  added: string[];
  modified: string[];
  deleted: string[];
  counts?: Counts;
  /** Git's view of a repo task (`ctask.diff` results and `ctask/diff` notifications; absent for other tasks). */
  git?: GitSummary | null;
}

/** The git repository of a task made with `repo` (`repo` of `ctask.list` / `ctask.status`). */
export interface RepoJson {
  /** The repository's top level. */
  path: string;
  branch: string;
  /** The commit the branch was made from. */
  base?: string | null;
  /** The ref given for it (e.g. `HEAD`, `main`). */
  base_ref?: string | null;
  /** The task's worktree (inside its workspace); the agent runs there. */
  worktree: string;
}

/** `summary.git` of a repo task's session: what happened on its branch (or `{error}`). */
export interface GitSummary {
  repo?: string;
  branch?: string;
  worktree?: string;
  base?: string;
  head?: string;
  commits?: { sha: string; subject: string }[];
  committed?: { status: string; path: string }[];
  uncommitted?: { status: string; path: string }[];
  /** The full numbers (the lists stop at 500 entries). */
  counts?: { commits?: number; committed?: number; uncommitted?: number };
  error?: string;
}

/** A finished session's summary (`.ctask/summary.yaml`); only the fields the client reads. */
export interface Summary {
  session_id?: string;
  end_reason?: string;
  exit_status?: number | null;
  duration_s?: number;
  counts?: Counts;
  added?: string[];
  modified?: string[];
  deleted?: string[];
  session_ownership?: string;
  ended_at?: string;
  git?: GitSummary | null;
  [key: string]: unknown;
}

/** `ctask/sessionEnded`. */
export interface SessionEndedParams {
  name: string;
  summary: Summary;
}

/** The lease object nested in a task (`lease` of `ctask.list`/`ctask.status`). */
export interface LeaseJson {
  state: LeaseStateName;
  reason?: string | null;
  session_id?: string;
  host?: string;
  pid?: number;
  agent?: string;
  mode?: string;
  heartbeat_at?: string;
  age_s?: number;
  owner?: string;
  owned_here?: boolean;
}

/** One task as `ctask.list` / `ctask.status` return it. */
export interface TaskJson {
  name: string;
  workspace: string;
  lease?: LeaseJson;
  tmux_session?: string;
  tmux_alive?: boolean;
  updated_at?: string | null;
  description?: string | null;
  last_summary?: Summary | null;
  owned_here?: boolean;
  error?: string;
  /** Absent or null for a task that is not on a git repository. */
  repo?: RepoJson | null;
}

/** What the editor runs in its own terminal (`tmux attach-session ...`). */
export interface TerminalSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string | null>;
}

/**
 * Result of the launching commands (new, resume, last, attach).  `task` is the
 * task's name (a task object is accepted too); `action` is `launched`,
 * `adopted`, `passive` (another live process owns the session) or `owned`
 * (this server already owns it).
 */
export interface LaunchResult {
  task?: string | TaskJson;
  action?: string;
  session?: { session_id?: string | null; tmux_session?: string; lease?: LeaseJson } | null;
  terminal?: TerminalSpec | null;
}

/** Result of `ctask.open`. */
export interface OpenResult {
  task?: string;
  workspace?: string;
  /** The folder to open: a repo task's worktree, else the workspace. */
  folder?: string;
  uri?: string;
}

/** The settings the server accepts in `initializationOptions` and `workspace/didChangeConfiguration`. */
export interface ServerSettings {
  home?: string;
  agent?: { command?: string; args?: string[] };
  heartbeatInterval?: number;
  staleAfter?: number;
  pollInterval?: number;
  autoAdopt?: boolean;
}
