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

export function openFolder(path: string, newWindow: boolean): Thenable<unknown> {
  return vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(path), { forceNewWindow: newWindow });
}

export async function openFile(path: string): Promise<void> {
  await vscode.window.showTextDocument(vscode.Uri.file(path), { preview: true });
}

export function disposable(dispose: () => void): Disposable {
  return { dispose };
}
