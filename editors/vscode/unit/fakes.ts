/** A scripted ctask server for unit tests of the commands. */
import type { ServerCommandId } from '../src/constants';
import type { DiffParams, LeaseJson, LeaseStateParams, TaskJson } from '../src/protocol';
import type { Server, ServerState } from '../src/server';

export class FakeServer implements Server {
  state: ServerState = 'running';
  calls: [string, object][] = [];
  restarts = 0;
  private readonly replies = new Map<string, (args: Record<string, unknown>) => unknown>();

  reply(command: ServerCommandId, fn: (args: Record<string, unknown>) => unknown): this {
    this.replies.set(command, fn);
    return this;
  }

  execute<T>(command: ServerCommandId, args: object): Promise<T> {
    this.calls.push([command, args]);
    const fn = this.replies.get(command);
    if (!fn) {
      return Promise.reject(new Error(`unexpected server command ${command}`));
    }
    return new Promise<T>((resolve) => resolve(fn(args as Record<string, unknown>) as T));
  }

  sent(command: string): object[] {
    return this.calls.filter(([c]) => c === command).map(([, a]) => a);
  }

  restart(): Promise<void> {
    this.restarts += 1;
    return Promise.resolve();
  }

  start(): Promise<void> {
    this.state = 'running';
    return Promise.resolve();
  }
}

/** Overrides of a `ctask/leaseState`: its own fields and, at the same level, those of its lease. */
export type LeaseOver = Partial<Omit<LeaseStateParams, 'lease'>> & Partial<LeaseJson>;

const TOP: readonly string[] = ['name', 'workspace', 'tmux_session', 'tmux_alive', 'owned_here', 'error', 'removed'];

function split(over: LeaseOver): [Partial<LeaseStateParams>, Partial<LeaseJson>] {
  const top: Record<string, unknown> = {};
  const inner: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(over)) {
    (TOP.includes(key) ? top : inner)[key] = value;
  }
  return [top, inner];
}

/** A `ctask/leaseState` with no lease (override its fields, or its lease's, in OVER). */
export function lease(name: string, over: LeaseOver = {}): LeaseStateParams {
  const [top, inner] = split(over);
  return {
    name,
    workspace: `/home/u/.local/share/ctask/tasks/${name}`,
    lease: { state: 'missing', ...inner },
    tmux_session: `ctask-${name}`,
    tmux_alive: false,
    owned_here: false,
    ...top,
  };
}

/** A `ctask/leaseState` of a session this server owns. */
export function owned(name: string, over: LeaseOver = {}): LeaseStateParams {
  return lease(name, {
    state: 'fresh_local',
    session_id: `box-4242-1700000000`,
    host: 'box',
    pid: 4242,
    agent: 'claude',
    mode: 'persistent',
    heartbeat_at: new Date().toISOString(),
    age_s: 0.5,
    tmux_alive: true,
    owned_here: true,
    ...over,
  });
}

export function taskJson(name: string, state: TaskJson['lease'] = { state: 'missing' }, over: Partial<TaskJson> = {}): TaskJson {
  return {
    name,
    workspace: `/home/u/.local/share/ctask/tasks/${name}`,
    lease: state,
    tmux_session: `ctask-${name}`,
    tmux_alive: state?.state === 'fresh_local',
    updated_at: '2025-01-01T00:00:00Z',
    created_at: '2025-01-01T00:00:00Z',
    description: null,
    agent: { command: 'claude', args: [], env: {} },
    provisional: false,
    repo: null,
    last_summary: null,
    activity: null,
    conversation_id: null,
    ...over,
  };
}

/** A `ctask/diff` (live unless `final` is given); counts from the lists. */
export function diff(name: string, over: Partial<DiffParams> = {}): DiffParams {
  const added = over.added ?? [];
  const modified = over.modified ?? [];
  const deleted = over.deleted ?? [];
  return {
    name,
    session_id: 's',
    final: false,
    added,
    modified,
    deleted,
    counts: { added: added.length, modified: modified.length, deleted: deleted.length },
    bytes: { added: 0, modified: 0, deleted: 0 },
    ...over,
  };
}
