/**
 * The one module that calls the `vscode` API.  Everything else goes through
 * these small functions, so unit tests run under plain node with a mocked
 * `vscode` module and can see every call.
 */
import * as vscode from 'vscode';

export type Disposable = vscode.Disposable;
export type ExtensionContext = vscode.ExtensionContext;
export type OutputChannel = vscode.LogOutputChannel;
export type QuickPickItem = vscode.QuickPickItem;
export type StatusBarItem = vscode.StatusBarItem;
export type Terminal = vscode.Terminal;
export type WorkspaceConfiguration = vscode.WorkspaceConfiguration;
export type ConfigurationChangeEvent = vscode.ConfigurationChangeEvent;

export function registerCommand(id: string, callback: (...args: unknown[]) => unknown): Disposable {
  return vscode.commands.registerCommand(id, callback);
}

export function executeCommand<T = unknown>(id: string, ...args: unknown[]): Thenable<T> {
  return vscode.commands.executeCommand<T>(id, ...args);
}

export function createStatusBarItem(id: string, priority: number): StatusBarItem {
  return vscode.window.createStatusBarItem(id, vscode.StatusBarAlignment.Left, priority);
}

export function themeColor(id: string): vscode.ThemeColor {
  return new vscode.ThemeColor(id);
}

export function markdown(text: string): vscode.MarkdownString {
  const md = new vscode.MarkdownString(text, true);
  md.isTrusted = false;
  return md;
}

export function createOutputChannel(name: string): OutputChannel {
  return vscode.window.createOutputChannel(name, { log: true });
}

export function showInputBox(options: vscode.InputBoxOptions): Thenable<string | undefined> {
  return vscode.window.showInputBox(options);
}

export function showQuickPick<T extends QuickPickItem>(
  items: readonly T[],
  options: vscode.QuickPickOptions,
): Thenable<T | undefined> {
  return vscode.window.showQuickPick(items, options);
}

export function separator(label: string): QuickPickItem {
  return { label, kind: vscode.QuickPickItemKind.Separator };
}

export function showErrorMessage(message: string, ...actions: string[]): Thenable<string | undefined> {
  return vscode.window.showErrorMessage(message, ...actions);
}

export function showWarningMessage(message: string, ...actions: string[]): Thenable<string | undefined> {
  return vscode.window.showWarningMessage(message, ...actions);
}

export function showInformationMessage(message: string, ...actions: string[]): Thenable<string | undefined> {
  return vscode.window.showInformationMessage(message, ...actions);
}

/** A modal question; `cancel` is the dialog's close affordance (Escape picks it). */
export async function showModal(
  kind: 'error' | 'warning' | 'info',
  message: string,
  actions: string[],
  cancel: string,
): Promise<string | undefined> {
  const items: vscode.MessageItem[] = [
    ...actions.map((title) => ({ title })),
    { title: cancel, isCloseAffordance: true },
  ];
  const show =
    kind === 'error'
      ? vscode.window.showErrorMessage
      : kind === 'warning'
        ? vscode.window.showWarningMessage
        : vscode.window.showInformationMessage;
  const picked = await show<vscode.MessageItem>(message, { modal: true }, ...items);
  return picked?.title;
}

export interface TerminalOptions {
  name: string;
  shellPath: string;
  shellArgs: string[];
  cwd?: string;
  env?: Record<string, string | null>;
}

export function createTerminal(options: TerminalOptions): Terminal {
  return vscode.window.createTerminal({ ...options, iconPath: new vscode.ThemeIcon('terminal-tmux') });
}

export function terminals(): readonly Terminal[] {
  return vscode.window.terminals;
}

export function getConfiguration(section: string): WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(section);
}

export function onDidChangeConfiguration(listener: (e: ConfigurationChangeEvent) => unknown): Disposable {
  return vscode.workspace.onDidChangeConfiguration(listener);
}

/** File-system paths of the open workspace folders. */
export function workspaceFolderPaths(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

/** File-system path of the workspace folder holding the active editor's file, if any. */
export function activeEditorFolderPath(): string | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  const folder = uri ? vscode.workspace.getWorkspaceFolder(uri) : undefined;
  return folder && folder.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
}

export function onDidChangeWorkspaceFolders(listener: () => unknown): Disposable {
  return vscode.workspace.onDidChangeWorkspaceFolders(listener);
}

/** A folder of another host in a new window, over Remote-SSH (`vscode-remote://ssh-remote+DEST/PATH`). */
export function openRemoteFolder(dest: string, path: string): Thenable<unknown> {
  const uri = vscode.Uri.from({ scheme: 'vscode-remote', authority: `ssh-remote+${dest}`, path });
  return vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true });
}

export function openFolder(path: string, newWindow: boolean): Thenable<unknown> {
  return vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(path), { forceNewWindow: newWindow });
}

export async function openFile(path: string): Promise<void> {
  await vscode.window.showTextDocument(vscode.Uri.file(path), { preview: true });
}

/** A document of a content provider (or a file) in an editor. */
export async function openDocument(ref: DocRef): Promise<void> {
  await vscode.window.showTextDocument(toUri(ref), { preview: true });
}

export function disposable(dispose: () => void): Disposable {
  return { dispose };
}

/** A document by its URI's parts: `file` (path is a file-system path) or the scheme of a content provider. */
export interface DocRef {
  scheme: string;
  path: string;
  query?: string;
}

function toUri(ref: DocRef): vscode.Uri {
  return ref.scheme === 'file' ? vscode.Uri.file(ref.path) : vscode.Uri.from({ scheme: ref.scheme, path: ref.path, query: ref.query ?? '' });
}

function toRef(uri: vscode.Uri): DocRef {
  return { scheme: uri.scheme, path: uri.scheme === 'file' ? uri.fsPath : uri.path, query: uri.query };
}

/** A command argument that is a URI (editor/title menus pass the editor's resource), as a DocRef. */
export function refArg(arg: unknown): DocRef | undefined {
  return arg instanceof vscode.Uri ? toRef(arg) : undefined;
}

/**
 * Read-only documents of SCHEME whose text PROVIDE gives (VS Code's TextDocumentContentProvider); `changed(ref)`
 * makes VS Code ask again for that document's text if it is open.
 */
export function registerDocuments(scheme: string, provide: (ref: DocRef) => Promise<string>): { disposable: Disposable; changed: (ref: DocRef) => void } {
  const emitter = new vscode.EventEmitter<vscode.Uri>();
  const registration = vscode.workspace.registerTextDocumentContentProvider(scheme, {
    onDidChange: emitter.event,
    provideTextDocumentContent: (uri) => provide(toRef(uri)),
  });
  return {
    disposable: disposable(() => {
      registration.dispose();
      emitter.dispose();
    }),
    changed: (ref) => emitter.fire(toUri(ref)),
  };
}

/** VS Code's own diff editor: LEFT (old) against RIGHT (new). */
export function openDiff(left: DocRef, right: DocRef, title: string): Thenable<unknown> {
  return vscode.commands.executeCommand('vscode.diff', toUri(left), toUri(right), title, { preview: true });
}

/** The two sides of the active editor tab when it is a diff editor. */
export function activeDiff(): { original: DocRef; modified: DocRef } | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputTextDiff ? { original: toRef(input.original), modified: toRef(input.modified) } : undefined;
}

export function onDidChangeTabs(listener: () => unknown): Disposable {
  const a = vscode.window.tabGroups.onDidChangeTabs(listener);
  const b = vscode.window.tabGroups.onDidChangeTabGroups(listener);
  return {
    dispose: () => {
      a.dispose();
      b.dispose();
    },
  };
}

/** Set a context key for `when` clauses of package.json. */
export function setContext(key: string, value: unknown): Thenable<unknown> {
  return vscode.commands.executeCommand<unknown>('setContext', key, value);
}

/** File-system path of the active text editor's file, if it is one. */
/** The active editor's document, of any scheme (a ctask checkpoint document opened on its own, too). */
export function activeDocRef(): DocRef | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri ? toRef(uri) : undefined;
}

export function activeFilePath(): string | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri?.scheme === 'file' ? uri.fsPath : undefined;
}

/** One row of a tree view, in plain data (src/vscodeapi.ts makes the vscode.TreeItem). */
export interface TreeRow {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon id, and the theme colour it takes (`list.warningForeground`). */
  icon?: { id: string; color?: string };
  /** `viewItem` of the view's `when` clauses: what the row's inline actions are. */
  contextValue?: string;
  expandable: boolean;
  /** A file the row stands for: its file icon and label decorations. */
  file?: string;
  /** Run when the row is selected. */
  command?: { command: string; title: string; arguments: unknown[] };
}

export interface TreeSource<T> {
  children(element?: T): Promise<T[]> | T[];
  row(element: T): TreeRow;
}

/** A tree view of SOURCE; the returned `refresh` redraws it (after a change the store saw). */
export function createTreeView<T>(viewId: string, source: TreeSource<T>): { refresh: () => void; disposable: Disposable } {
  const changed = new vscode.EventEmitter<T | undefined>();
  const provider: vscode.TreeDataProvider<T> = {
    onDidChangeTreeData: changed.event,
    getChildren: (element) => source.children(element),
    getTreeItem: (element) => {
      const row = source.row(element);
      const item = new vscode.TreeItem(
        row.label,
        row.expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None,
      );
      item.id = row.id;
      item.description = row.description;
      item.tooltip = row.tooltip;
      item.contextValue = row.contextValue;
      if (row.file) {
        item.resourceUri = vscode.Uri.file(row.file);
      }
      if (row.icon) {
        item.iconPath = new vscode.ThemeIcon(row.icon.id, row.icon.color ? new vscode.ThemeColor(row.icon.color) : undefined);
      }
      if (row.command) {
        item.command = row.command;
      }
      return item;
    },
  };
  const view = vscode.window.createTreeView(viewId, { treeDataProvider: provider, showCollapseAll: true });
  return {
    refresh: () => changed.fire(undefined),
    disposable: {
      dispose: () => {
        view.dispose();
        changed.dispose();
      },
    },
  };
}

export function joinPath(base: vscode.Uri, ...parts: string[]): vscode.Uri {
  return vscode.Uri.joinPath(base, ...parts);
}

/** A markdown file in VS Code's preview (the extension's README: install instructions that work offline). */
export function showMarkdown(uri: vscode.Uri): Thenable<unknown> {
  return vscode.commands.executeCommand('markdown.showPreview', uri);
}
