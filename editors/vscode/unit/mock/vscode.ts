/**
 * A stand-in for the `vscode` module, enough for src/vscodeapi.ts.  Every call
 * is recorded in `mock`; tests script the user's answers through `mock.answer`.
 * unit/setup.ts makes `require('vscode')` return this module.
 */

export interface Recorded {
  kind: 'error' | 'warning' | 'info';
  message: string;
  items: unknown[];
  modal: boolean;
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 } as const;

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  resourceUri?: Uri;
  iconPath?: ThemeIcon;
  command?: { command: string; title: string; arguments: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: number,
  ) {}
}

export class EventEmitter<T> {
  private readonly listeners: ((e: T) => unknown)[] = [];
  fired = 0;
  readonly event = (listener: (e: T) => unknown) => {
    this.listeners.push(listener);
    return { dispose: () => undefined };
  };
  fire(e: T): void {
    this.fired += 1;
    for (const l of this.listeners) {
      l(e);
    }
  }
  dispose(): void {}
}

/** A tree view's data provider, as the extension gave it. */
export interface FakeTreeProvider {
  onDidChangeTreeData: (listener: (e: unknown) => unknown) => unknown;
  getChildren(element?: unknown): unknown;
  getTreeItem(element: unknown): TreeItem;
}

export class MarkdownString {
  isTrusted = false;
  constructor(
    public value = '',
    readonly supportThemeIcons = false,
  ) {}
}

export const StatusBarAlignment = { Left: 1, Right: 2 } as const;
export const QuickPickItemKind = { Separator: -1, Default: 0 } as const;

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    readonly query = '',
  ) {}
  get path(): string {
    return this.fsPath;
  }
  static file(path: string): Uri {
    return new Uri('file', path);
  }
  static from(parts: { scheme: string; path: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path, parts.query ?? '');
  }
  toString(): string {
    return `${this.scheme}:${this.fsPath}${this.query ? `?${this.query}` : ''}`;
  }
}

export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export class FakeStatusBarItem {
  text = '';
  tooltip: MarkdownString | string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  accessibilityInformation: { label: string } | undefined;
  visible = false;
  disposed = false;
  constructor(
    readonly id: string,
    readonly alignment: number,
    readonly priority: number,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
  }
}

export interface TerminalCreateOptions {
  name: string;
  shellPath: string;
  shellArgs: string[];
  cwd?: string;
  env?: Record<string, string | null>;
  iconPath?: ThemeIcon;
}

export class FakeTerminal {
  shown = 0;
  exitStatus: { code: number } | undefined;
  constructor(readonly creationOptions: TerminalCreateOptions) {}
  get name(): string {
    return this.creationOptions.name;
  }
  show(): void {
    this.shown += 1;
  }
  dispose(): void {
    this.exitStatus = { code: 0 };
  }
}

export class FakeOutputChannel {
  lines: string[] = [];
  shown = false;
  constructor(readonly name: string) {}
  appendLine(line: string): void {
    this.lines.push(line);
  }
  append(text: string): void {
    this.lines.push(text);
  }
  info(text: string): void {
    this.lines.push(`[info] ${text}`);
  }
  warn(text: string): void {
    this.lines.push(`[warn] ${text}`);
  }
  error(text: string): void {
    this.lines.push(`[error] ${text}`);
  }
  show(): void {
    this.shown = true;
  }
  dispose(): void {}
}

type Listener = (e: unknown) => unknown;
type QuickPickAnswer = (items: readonly Record<string, unknown>[], options: Record<string, unknown>) => unknown;
type InputAnswer = (options: { validateInput?: (v: string) => unknown }) => string | undefined;
type MessageAnswer = (m: Recorded) => string | { title: string } | undefined;

/** Everything the extension did, and the scripted answers of the "user". */
export const mock = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executed: [] as [string, unknown[]][],
  statusBarItems: [] as FakeStatusBarItem[],
  terminals: [] as FakeTerminal[],
  outputChannels: [] as FakeOutputChannel[],
  messages: [] as Recorded[],
  inputBoxes: [] as Record<string, unknown>[],
  quickPicks: [] as { items: readonly Record<string, unknown>[]; options: Record<string, unknown> }[],
  openedFiles: [] as string[],
  /** Content providers by scheme. */
  providers: new Map<string, { provideTextDocumentContent(uri: Uri): Promise<string>; onDidChange?: (listener: (uri: Uri) => unknown) => unknown }>(),
  /** The active tab's input (a TabInputTextDiff for a diff editor). */
  activeTab: undefined as { input: unknown } | undefined,
  /** Tree views by id: their data providers and how often they were told to redraw. */
  treeViews: new Map<string, { provider: FakeTreeProvider; refreshes: number }>(),
  /** Context keys set with `setContext`. */
  context: new Map<string, unknown>(),
  openedFolders: [] as { path: string; newWindow: boolean }[],
  folders: [] as string[],
  /** The file of the active text editor, if any. */
  /** The active editor's document: a path of a file, or any document's URI. */
  activeFile: undefined as string | Uri | undefined,
  /** Settings by full key (`ctask.home`): what the user set, and the package.json default. */
  settings: new Map<string, { user?: unknown; default?: unknown }>(),
  configListeners: [] as Listener[],
  tabListeners: [] as Listener[],
  /** The user switched tabs: tell the extension's listeners. */
  onTabsChanged(): void {
    for (const l of this.tabListeners) {
      l(undefined);
    }
  },
  answer: {
    inputBox: (() => undefined) as InputAnswer,
    quickPick: (() => undefined) as QuickPickAnswer,
    message: (() => undefined) as MessageAnswer,
  },
  reset(): void {
    this.commands.clear();
    this.executed = [];
    this.statusBarItems = [];
    this.terminals = [];
    this.outputChannels = [];
    this.messages = [];
    this.inputBoxes = [];
    this.quickPicks = [];
    this.openedFiles = [];
    this.providers.clear();
    this.activeTab = undefined;
    this.context.clear();
    this.treeViews.clear();
    this.openedFolders = [];
    this.folders = [];
    this.activeFile = undefined;
    this.settings.clear();
    this.configListeners = [];
    this.tabListeners = [];
    this.answer.inputBox = () => undefined;
    this.answer.quickPick = () => undefined;
    this.answer.message = () => undefined;
  },
};

function message(kind: Recorded['kind']) {
  return (text: string, ...rest: unknown[]): Promise<unknown> => {
    let modal = false;
    if (rest.length && typeof rest[0] === 'object' && rest[0] !== null && 'modal' in rest[0]) {
      modal = Boolean((rest[0] as { modal?: boolean }).modal);
      rest = rest.slice(1);
    }
    const recorded: Recorded = { kind, message: text, items: rest, modal };
    mock.messages.push(recorded);
    const answer = mock.answer.message(recorded);
    if (answer === undefined) {
      return Promise.resolve(undefined);
    }
    const title = typeof answer === 'string' ? answer : answer.title;
    const item = rest.find((i) => i === title || (typeof i === 'object' && i !== null && (i as { title?: string }).title === title));
    return Promise.resolve(item);
  };
}

export const commands = {
  registerCommand(id: string, callback: (...args: unknown[]) => unknown) {
    if (mock.commands.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    mock.commands.set(id, callback);
    return { dispose: () => mock.commands.delete(id) };
  },
  executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    mock.executed.push([id, args]);
    if (id === 'setContext') {
      mock.context.set(args[0] as string, args[1]);
      return Promise.resolve(undefined);
    }
    if (id === 'vscode.openFolder') {
      const [uri, opts] = args as [Uri, { forceNewWindow: boolean }];
      mock.openedFolders.push({ path: uri.fsPath, newWindow: opts.forceNewWindow });
      return Promise.resolve(undefined);
    }
    const fn = mock.commands.get(id);
    return Promise.resolve(fn ? fn(...args) : undefined);
  },
};

export const window = {
  createStatusBarItem(id: string, alignment: number, priority: number) {
    const item = new FakeStatusBarItem(id, alignment, priority);
    mock.statusBarItems.push(item);
    return item;
  },
  createOutputChannel(name: string) {
    const channel = new FakeOutputChannel(name);
    mock.outputChannels.push(channel);
    return channel;
  },
  showInputBox(options: Record<string, unknown>) {
    mock.inputBoxes.push(options);
    return Promise.resolve(mock.answer.inputBox(options));
  },
  showQuickPick(items: readonly Record<string, unknown>[], options: Record<string, unknown>) {
    mock.quickPicks.push({ items, options });
    return Promise.resolve(mock.answer.quickPick(items, options));
  },
  showErrorMessage: message('error'),
  showWarningMessage: message('warning'),
  showInformationMessage: message('info'),
  createTerminal(options: TerminalCreateOptions) {
    const terminal = new FakeTerminal(options);
    mock.terminals.push(terminal);
    return terminal;
  },
  get terminals() {
    return mock.terminals;
  },
  get activeTextEditor() {
    const file = mock.activeFile;
    return file === undefined ? undefined : { document: { uri: typeof file === 'string' ? Uri.file(file) : file } };
  },
  createTreeView(id: string, options: { treeDataProvider: FakeTreeProvider }) {
    const entry = { provider: options.treeDataProvider, refreshes: 0 };
    options.treeDataProvider.onDidChangeTreeData(() => {
      entry.refreshes += 1;
    });
    mock.treeViews.set(id, entry);
    return { dispose: () => mock.treeViews.delete(id) };
  },
  tabGroups: {
    get activeTabGroup() {
      return { activeTab: mock.activeTab };
    },
    onDidChangeTabs(listener: Listener) {
      mock.tabListeners.push(listener);
      return { dispose: () => undefined };
    },
    onDidChangeTabGroups(_listener: Listener) {
      return { dispose: () => undefined };
    },
  },
  showTextDocument(uri: Uri) {
    mock.openedFiles.push(uri.scheme === 'file' ? uri.fsPath : String(uri));
    return Promise.resolve({});
  },
};

export const workspace = {
  get workspaceFolders() {
    return mock.folders.map((f, index) => ({ uri: Uri.file(f), name: f, index }));
  },
  getWorkspaceFolder(uri: Uri) {
    const index = mock.folders.findIndex((f) => uri.fsPath === f || uri.fsPath.startsWith(`${f}/`));
    return index < 0 ? undefined : { uri: Uri.file(mock.folders[index]), name: mock.folders[index], index };
  },
  getConfiguration(section: string) {
    const full = (key: string) => `${section}.${key}`;
    return {
      get<T>(key: string, fallback?: T): T | undefined {
        const s = mock.settings.get(full(key));
        return (s?.user ?? s?.default ?? fallback) as T | undefined;
      },
      inspect<T>(key: string) {
        const s = mock.settings.get(full(key));
        return { key: full(key), defaultValue: s?.default as T | undefined, globalValue: s?.user as T | undefined };
      },
    };
  },
  onDidChangeConfiguration(listener: Listener) {
    mock.configListeners.push(listener);
    return { dispose: () => undefined };
  },
  onDidChangeWorkspaceFolders(_listener: Listener) {
    return { dispose: () => undefined };
  },
  registerTextDocumentContentProvider(
    scheme: string,
    provider: { provideTextDocumentContent(uri: Uri): Promise<string>; onDidChange?: (listener: (uri: Uri) => unknown) => unknown },
  ) {
    mock.providers.set(scheme, provider);
    return { dispose: () => mock.providers.delete(scheme) };
  },
};
