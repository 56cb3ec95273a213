/**
 * The extension's parts wired together: the server, the task store, the
 * status-bar item and the commands.  Every disposable goes into
 * context.subscriptions.  The server comes from a factory so unit tests can
 * pass a fake one (src/extension.ts passes the language client).
 */
import { Commands, taskList } from './commands';
import type { Review } from './review';
import { Command, Context, LeaseState, SECTION, ServerCommand, Setting } from './constants';
import type { Server, ServerHandlers } from './server';
import { LOCAL_HOST, RESTART_KEYS, ctaskHome, hostsSetting, taskOfFolders, type HostSpec } from './settings';
import { TaskStore, isRunning } from './state';
import { StatusBar } from './statusBar';
import { TaskTree, VIEW_ID, type HostEntry } from './taskView';
import * as api from './vscodeapi';

/**
 * How often the status bar re-renders while a lease is shown, so the tooltip's
 * heartbeat age (computed from the lease's `heartbeat_at`) keeps moving.  It
 * asks the server nothing: lease changes come as `ctask/leaseState`.
 */
const TICK_MS = 1000;

/** What the wiring needs of the server beyond what the commands use. */
export interface ManagedServer extends Server, api.Disposable {
  start(): Promise<void>;
  sendSettings(): Promise<void>;
  /** Why it is not running, when it failed to start. */
  readonly problem?: string;
}

/** A server: this machine's (no HOST), or HOST's over ssh (SPEC 10). */
export type ServerFactory<S extends ManagedServer> = (output: api.OutputChannel, handlers: ServerHandlers, host?: HostSpec) => S;

/** One host: its server, what it said, its commands. */
interface Host<S extends ManagedServer> extends HostEntry {
  server: S;
  commands: Commands;
  review: Review;
}

/** Palette commands that ask "which host?" first when hosts are configured (they act on one host's tasks). */
const ASK_HOST: readonly string[] = [
  Command.newTask,
  Command.resumeTask,
  Command.resumeLast,
  Command.attach,
  Command.stop,
  Command.showChanges,
  Command.showLog,
  Command.listTasks,
  Command.removeTask,
];

export interface Wired<S extends ManagedServer> {
  store: TaskStore;
  commands: Commands;
  server: S;
  statusBar: StatusBar;
}

export function wire<S extends ManagedServer>(
  context: Pick<api.ExtensionContext, 'subscriptions'>,
  makeServer: ServerFactory<S>,
): Wired<S> {
  const output = api.createOutputChannel('ctask');
  const logChannel = api.createOutputChannel('ctask sessions');
  context.subscriptions.push(output, logChannel);

  const store = new TaskStore();
  // The server's handlers run only after start(), when both exist.
  const late: { commands?: Commands; statusBar?: StatusBar; stateChange?: () => void } = {};

  const srv = makeServer(output, {
    leaseState: (p) => store.applyLeaseState(p),
    diff: (p) => store.applyDiff(p),
    sessionEnded: (p) => late.commands?.sessionEnded(p),
    activity: (p) => late.commands?.activity(p),
    stateChanged: (state) => {
      late.statusBar?.update();
      late.stateChange?.();
      if (state === 'running') {
        // Notifications carry no repository: ask once per server for the branches of the tasks.
        srv.execute<unknown>(ServerCommand.list, {}).then(
          (result) => store.learnRepos(taskList(result)),
          (error: unknown) => output.warn(`listing the tasks' repositories: ${String(error)}`),
        );
      }
    },
  });
  context.subscriptions.push(srv);

  // Other hosts (SPEC 10): a server each over ssh, its own tasks and commands; palette commands ask which host.
  const { hosts: specs, problems } = hostsSetting(api.getConfiguration(SECTION));
  for (const problem of problems) {
    output.warn(problem);
    void api.showWarningMessage(`ctask: ${problem}`);
  }
  const remotes: Host<S>[] = specs.map((host) => {
    const hostStore = new TaskStore();
    const own: { commands?: Commands } = {};
    const server = makeServer(
      output,
      {
        leaseState: (p) => hostStore.applyLeaseState(p),
        diff: (p) => {
          hostStore.applyDiff(p);
          own.commands?.review.taskChanged(p.name); // its open files-as-they-are-now are read again
        },
        sessionEnded: (p) => own.commands?.sessionEnded(p),
        activity: (p) => own.commands?.activity(p),
        stateChanged: () => late.stateChange?.(),
      },
      host,
    );
    context.subscriptions.push(server);
    own.commands = new Commands({ server, store: hostStore, folders: () => [], logChannel, host });
    return { name: host.name, server, store: hostStore, commands: own.commands, review: own.commands.review };
  });
  const router = {
    route: async (arg: unknown, id: string): Promise<Commands | undefined> => {
      const named = (arg as { host?: unknown } | undefined)?.host;
      if (typeof named === 'string') {
        return remotes.find((h) => h.name === named)?.commands ?? commands;
      }
      if (id === Command.restartServer) {
        for (const h of remotes) {
          void h.server.restart();
        }
      }
      if (arg !== undefined || !ASK_HOST.includes(id)) {
        return commands;
      }
      const items = [
        { label: LOCAL_HOST, description: 'this machine', commands },
        ...remotes.map((h) => ({ label: h.name, description: h.server.state === 'stopped' ? 'unreachable' : '', commands: h.commands })),
      ];
      const picked = await api.showQuickPick(items, { title: 'ctask: which host?', placeHolder: 'The host whose tasks to act on' });
      return picked?.commands;
    },
  };
  const commands = new Commands({
    server: srv,
    store,
    folders: api.workspaceFolderPaths,
    logChannel,
    router: remotes.length ? router : undefined,
  });
  late.commands = commands;
  for (const h of remotes) {
    commands.review.addHost(h.name, h.review); // one content provider and Revert File for every host's diffs
  }
  context.subscriptions.push(...commands.register());

  const bar = new StatusBar(() => {
    const task = store.current(api.workspaceFolderPaths());
    const ended = task && task.lease.state === LeaseState.missing && !task.tmux_alive ? store.endedSummary(task.name) : undefined;
    const live = task ? store.diff(task.name) : undefined;
    return {
      task,
      server: srv.state,
      now: Date.now(),
      ended: ended ? { counts: ended.counts, end_reason: ended.end_reason, exit_status: ended.exit_status } : undefined,
      problem: srv.problem,
      live: live && !live.final ? (live.counts ?? { added: live.added.length, modified: live.modified.length, deleted: live.deleted.length }) : undefined,
    };
  });
  late.statusBar = bar;
  context.subscriptions.push(bar);
  const unsubscribe = store.onDidChange(() => bar.update());
  context.subscriptions.push(api.disposable(unsubscribe));

  // The task view, redrawn when a change the store sees changes what it shows; and the context keys of the `when` clauses.
  const hosts: HostEntry[] = [{ name: LOCAL_HOST, server: srv, store }, ...remotes];
  const tree = new TaskTree(hosts, commands.review);
  const view = api.createTreeView(VIEW_ID, tree);
  let shown: string | undefined;
  const redraw = (): void => {
    const now = tree.signature();
    if (now !== shown) {
      shown = now;
      view.refresh();
    }
  };
  context.subscriptions.push(view.disposable);
  context.subscriptions.push(api.registerCommand(Command.openChange, (node) => commands.run(() => tree.open(node))));
  const keys = new Map<string, boolean>();
  const setKeys = (): void => {
    const tasks = hosts.flatMap((h) => h.store.all());
    void api.setContext(Context.server, srv.state === 'stopped' && srv.problem ? 'failed' : srv.state);
    const now: [string, boolean][] = [
      [Context.hasTasks, tasks.length > 0],
      [Context.anyRunning, tasks.some(isRunning)],
    ];
    for (const [key, value] of now) {
      if (keys.get(key) !== value) {
        keys.set(key, value);
        void api.setContext(key, value);
      }
    }
  };
  for (const h of hosts) {
    context.subscriptions.push(
      api.disposable(
        h.store.onDidChange(() => {
          redraw();
          setKeys();
        }),
      ),
    );
  }
  late.stateChange = () => {
    redraw();
    setKeys();
  };
  setKeys();
  context.subscriptions.push(api.onDidChangeWorkspaceFolders(() => bar.update()));

  // Keep the tooltip's heartbeat age moving: a render from the store, no request.
  const timer = setInterval(() => {
    const task = store.current(api.workspaceFolderPaths());
    if (task && task.lease.state !== LeaseState.missing) {
      bar.update();
    }
  }, TICK_MS);
  context.subscriptions.push(api.disposable(() => clearInterval(timer)));

  context.subscriptions.push(
    api.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) {
        return;
      }
      if (e.affectsConfiguration(`${SECTION}.${Setting.hosts}`)) {
        void api.showInformationMessage('ctask: reload the window to connect to the hosts of ctask.hosts', 'Reload Window').then((pick) => {
          if (pick === 'Reload Window') {
            void api.executeCommand('workbench.action.reloadWindow');
          }
        });
      }
      if (RESTART_KEYS.some((key) => e.affectsConfiguration(`${SECTION}.${key}`))) {
        output.info('ctask.server settings changed: restarting the server');
        void srv.restart();
      } else {
        for (const server of [srv, ...remotes.map((h) => h.server)]) {
          void server.sendSettings().catch((error: unknown) => output.warn(`sending settings: ${String(error)}`));
        }
      }
    }),
  );

  // A window whose folder is a task's tree starts the server at once; any other on first use (a command, the
  // view), so a window that never touches ctask starts no server and adopts nothing.
  if (taskOfFolders(api.workspaceFolderPaths(), ctaskHome(api.getConfiguration(SECTION))) !== undefined) {
    void srv.start();
  }
  return { store, commands, server: srv, statusBar: bar };
}
