/**
 * Payloads exchanged with ctask-ls (SPEC section 4).  snake_case keys, RFC 3339
 * UTC times: the same shapes as the CLI's `--json` output.
 *
 * The notifications' params, the task and lease objects and the settings are
 * generated from `ctask_ls/protocol` (`./generated/protocol.ts`) and
 * re-exported here.  What the server keeps open (a summary, git's view of a
 * repo task) and the command results the protocol does not model are
 * described below, with only the fields the extension reads.
 */
export type {
  ActivityJson,
  ActivityParams,
  AgentSetting,
  Counts,
  DiffParams,
  LaunchResult,
  LaunchSession,
  LeaseJson,
  LeaseStateParams,
  RepoJson,
  ServerSettings,
  SessionEndedParams,
  TaskJson,
  TerminalSpec,
} from './generated/protocol';

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

/** A finished session's summary (`summary.yaml`); only the fields the client reads. */
export interface Summary {
  session_id?: string;
  end_reason?: string;
  exit_status?: number | null;
  duration_s?: number;
  counts?: { added: number; modified: number; deleted: number };
  added?: string[];
  modified?: string[];
  deleted?: string[];
  session_ownership?: string;
  ended_at?: string;
  git?: GitSummary | null;
  [key: string]: unknown;
}

/** The result of `ctask.diff` (a live diff): the `ctask/diff` params without `final`. */
export interface DiffResult {
  name: string;
  live?: boolean;
  session_id?: string | null;
  added: string[];
  modified: string[];
  deleted: string[];
  counts?: { added: number; modified: number; deleted: number };
  git?: GitSummary | null;
  /** The checkpoint the diff compares against (its session's start), for `ctask.fileAt`; null when none. */
  checkpoint?: number | null;
}

/** Result of `ctask.open`. */
export interface OpenResult {
  task?: string;
  workspace?: string;
  /** The folder to open: a repo task's worktree, else the workspace. */
  folder?: string;
  uri?: string;
}
