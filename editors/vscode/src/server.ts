/**
 * The language client: starts `ctask-ls` (setting `ctask.server.command`)
 * over stdio, or connects to a running `ctask-ls --tcp` (`ctask.server.address`,
 * presenting the token of `ctask.server.tokenFile` in `initialize`), sends it
 * the settings, routes its notifications and turns its JSON-RPC errors into
 * ServerErrors.
 */
import * as net from 'node:net';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  ShowMessageRequest,
  State,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
  type StreamInfo,
} from 'vscode-languageclient/node';
import { CLIENT_ID, CLIENT_NAME, Notification, SECTION, Setting, type ServerCommandId } from './constants';
import { ServerError, toServerError } from './errors';
import type { ActivityParams, DiffParams, LeaseStateParams, ServerSettings, SessionEndedParams } from './protocol';
import { askModal } from './questions';
import {
  findExecutable,
  hostLaunch,
  protocolMismatch,
  readToken,
  serverLaunch,
  serverSettings,
  tcpServer,
  type HostSpec,
  type ServerLaunch,
  type TcpServer,
} from './settings';
import * as api from './vscodeapi';

const OPEN_SETTINGS = 'Open Settings';
/** How long `shutdown` may take (the server waits up to 10 s for finalizes already running). */
const STOP_TIMEOUT_MS = 12000;

/** `idle`: not started in this window yet (it starts on first use, or at once in a task's tree). */
export type ServerState = 'idle' | 'starting' | 'running' | 'stopped';

/** Where the extension keeps what it showed once (VS Code's globalState). */
export interface Memory {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

/** The key of globalState under which "not installed" was shown: once per machine, not in every window. */
export const NOT_INSTALLED_SHOWN = 'ctask.notInstalledShown';
const HOW_TO_INSTALL = 'How to Install';

/** What the commands need of the server (tests pass a fake). */
export interface Server {
  readonly state: ServerState;
  execute<T>(command: ServerCommandId, args: object): Promise<T>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

export interface ServerHandlers {
  leaseState(params: LeaseStateParams): void;
  diff(params: DiffParams): void;
  sessionEnded(params: SessionEndedParams): void;
  activity(params: ActivityParams): void;
  stateChanged(state: ServerState): void;
}

export class CtaskServer implements Server, api.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<void> | undefined;
  /** 'idle' until start() has run: the status bar shows no error before the first try. */
  private current: ServerState = 'idle';
  private startError: string | undefined;

  private readonly memory?: Memory;
  private readonly showInstructions?: () => unknown;
  /** Another host's server, reached over ssh (SPEC 10); undefined: this machine's. */
  readonly host?: HostSpec;

  constructor(
    private readonly output: api.OutputChannel,
    private readonly handlers: ServerHandlers,
    options: {
      memory?: Memory;
      /** Opens the instructions for installing ctask-ls (the extension's README). */
      showInstructions?: () => unknown;
      host?: HostSpec;
    } = {},
  ) {
    this.memory = options.memory;
    this.showInstructions = options.showInstructions;
    this.host = options.host;
  }

  get state(): ServerState {
    return this.current;
  }

  /** Why the server is not running, when it failed to start. */
  get problem(): string | undefined {
    return this.current === 'stopped' ? this.startError : undefined;
  }

  private setState(state: ServerState): void {
    if (this.current !== state) {
      this.current = state;
      this.handlers.stateChanged(state);
    }
  }

  private settings(): ServerSettings {
    const settings = serverSettings(api.getConfiguration(SECTION));
    if (this.host) {
      // Paths and programs of this machine mean nothing on another: that host's config.yaml decides them.
      delete settings.home;
      delete settings.agent;
    }
    return settings;
  }

  private launch(): ServerLaunch {
    return this.host ? hostLaunch(this.host) : serverLaunch(api.getConfiguration(SECTION));
  }

  private createClient(tcp: { server: TcpServer; token: string } | undefined): LanguageClient {
    let serverOptions: ServerOptions;
    if (tcp) {
      const { host, port, tokenFile } = tcp.server;
      this.output.info(`connecting to ctask-ls at ${host}:${port} (token from ${tokenFile})`);
      serverOptions = () => connectTcp(host, port);
    } else {
      const launch = this.launch();
      this.output.info(`starting ${launch.command} ${[...launch.args, '--stdio'].join(' ')}`);
      serverOptions = { command: launch.command, args: launch.args, transport: TransportKind.stdio };
    }
    const clientOptions: LanguageClientOptions = {
      documentSelector: [],
      outputChannel: this.output,
      // Over TCP the token goes in initialize, the first message (docs/server.md); never in settings.
      // Read again at each (re)connection: a restarted server has a new token.
      initializationOptions: () => (tcp ? { ...this.settings(), token: freshToken(tcp) } : this.settings()),
    };
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    if (this.host) {
      // The client would register the commands the server advertises (`ctask.new`, ...) under their own ids,
      // which this machine's client already holds: the extension sends them itself (execute()).
      const feature = client.getFeature(ExecuteCommandRequest.method) as unknown as { initialize(): void; register(): void } | undefined;
      if (feature) {
        feature.initialize = () => undefined;
        feature.register = () => undefined;
      }
    }
    client.onNotification(Notification.leaseState, (p: LeaseStateParams) => this.handlers.leaseState(p));
    client.onNotification(Notification.diff, (p: DiffParams) => this.handlers.diff(p));
    client.onNotification(Notification.sessionEnded, (p: SessionEndedParams) => this.handlers.sessionEnded(p));
    client.onNotification(Notification.activity, (p: ActivityParams) => this.handlers.activity(p));
    client.onRequest(ShowMessageRequest.type, (params) => askModal(params));
    client.onDidChangeState((e) => {
      if (client !== this.client) {
        return;
      }
      if (e.newState === State.Stopped && this.host && this.startError === undefined) {
        // The connection dropped (the host went away, ssh timed out): nothing of its tasks is guessed.
        this.startError = `host ${this.host.name}: the connection closed; run "ctask: Restart Server" once it answers \`ssh ${this.host.ssh} true\``;
      }
      this.setState(e.newState === State.Running ? 'running' : e.newState === State.Starting ? 'starting' : 'stopped');
    });
    return client;
  }

  /** Start the server; a failure is reported once, with the setting to fix. */
  start(): Promise<void> {
    if (this.starting) {
      return this.starting;
    }
    let tcp: { server: TcpServer; token: string } | undefined;
    try {
      const server = this.host ? undefined : tcpServer(api.getConfiguration(SECTION));
      tcp = server && { server, token: readToken(server.tokenFile) };
    } catch (error) {
      this.startError = `cannot connect to ctask-ls: ${error instanceof Error ? error.message : String(error)}; then run "ctask: Restart Server"`;
      this.output.error(this.startError);
      this.setState('stopped');
      void api.showErrorMessage(`ctask: ${this.startError}`);
      return Promise.resolve();
    }
    const launch = this.launch();
    if (!tcp && !this.host && findExecutable(launch.command) === undefined) {
      // Checked here, so the user gets one message that says what to do (not the client's generic one), once.
      const where = launch.command.includes('/') ? `"${launch.command}" is not an executable file` : `"${launch.command}" is not on PATH`;
      this.startError = `the ctask language server is not installed: ${where}; install the ctask-ls Python package (How to Install) or set ctask.server.command to its path, then run "ctask: Restart Server"`;
      this.output.error(this.startError);
      this.setState('stopped');
      if (this.memory?.get<boolean>(NOT_INSTALLED_SHOWN) !== true) {
        void this.memory?.update(NOT_INSTALLED_SHOWN, true);
        void api.showWarningMessage(`ctask: ${this.startError}`, HOW_TO_INSTALL, OPEN_SETTINGS).then((pick) => {
          if (pick === OPEN_SETTINGS) {
            void api.executeCommand('workbench.action.openSettings', `${SECTION}.${Setting.serverCommand}`);
          } else if (pick === HOW_TO_INSTALL) {
            this.showInstructions?.();
          }
        });
      }
      return Promise.resolve();
    }
    void this.memory?.update(NOT_INSTALLED_SHOWN, undefined); // installed now: say it again if it goes
    const client = this.createClient(tcp);
    this.client = client;
    this.startError = undefined;
    this.setState('starting');
    this.starting = client.start().then(
      async () => {
        if (client !== this.client) {
          return;
        }
        const mismatch = protocolMismatch(client.initializeResult?.capabilities.experimental, this.host);
        if (mismatch) {
          // Another protocol: nothing it says can be trusted to mean what this extension reads.
          this.startError = mismatch;
          this.output.error(mismatch);
          this.client = undefined;
          this.setState('stopped');
          void api.showErrorMessage(`ctask: ${mismatch}`);
          await client.stop().catch(() => undefined);
          return;
        }
        this.setState('running');
      },
      (error: unknown) => {
        this.startError = this.host
          ? `host ${this.host.name} did not answer (${toServerError(error).message}); check that \`ssh ${this.host.ssh} ${this.host.command} --version\` works, then run "ctask: Restart Server"`
          : tcp
          ? `could not connect to ctask-ls at ${tcp.server.host}:${tcp.server.port} (${toServerError(error).message}); check ctask.server.address and ctask.server.tokenFile, then run "ctask: Restart Server"`
          : `could not start the ctask server "${launch.command}" (${toServerError(error).message}); set ctask.server.command and run "ctask: Restart Server"`;
        this.output.error(this.startError);
        if (client === this.client) {
          this.setState('stopped');
        }
        void api.showErrorMessage(`ctask: ${this.startError}`);
      },
    );
    return this.starting;
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.starting = undefined;
    this.setState(client ? 'stopped' : this.current === 'idle' ? 'idle' : 'stopped');
    if (client) {
      try {
        if (client.isRunning()) {
          // Shutdown releases this server's leases; it may first wait for a finalize in progress.
          await client.stop(STOP_TIMEOUT_MS);
        }
      } catch (error) {
        this.output.warn(`stopping the server: ${String(error)}`);
      }
      await client.dispose().catch(() => undefined);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Send the current settings (`workspace/didChangeConfiguration`). */
  async sendSettings(): Promise<void> {
    const client = this.client;
    if (client?.isRunning()) {
      await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { ctask: this.settings() } });
    }
  }

  async execute<T>(command: ServerCommandId, args: object): Promise<T> {
    if (this.current === 'idle') {
      await this.start(); // first use in this window
    }
    if (this.starting) {
      await this.starting;
    }
    const client = this.client;
    if (!client || !client.isRunning()) {
      throw new ServerError(this.startError ?? 'the ctask server is not running: run "ctask: Restart Server"');
    }
    try {
      return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] })) as T;
    } catch (error) {
      throw toServerError(error);
    }
  }

  dispose(): void {
    void this.stop();
  }
}

/** A TCP connection to a running `ctask-ls --tcp` (loopback unless the user's own setting says otherwise). */
function connectTcp(host: string, port: number): Promise<StreamInfo> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve({ reader: socket, writer: socket });
    });
  });
}

/** The token in the file now, else the one read when the client was started. */
function freshToken(tcp: { server: TcpServer; token: string }): string {
  try {
    return readToken(tcp.server.tokenFile);
  } catch {
    return tcp.token;
  }
}
