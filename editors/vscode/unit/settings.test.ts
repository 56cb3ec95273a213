import './setup';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, test } from 'node:test';
import { Command, SECTION, Setting } from '../src/constants';
import { findExecutable, readToken, SERVER_ADDRESS, SERVER_TOKEN_FILE, serverLaunch, serverSettings, tcpServer } from '../src/settings';
import * as api from '../src/vscodeapi';
import { mock } from './mock/vscode';

interface Contributed {
  type: string;
  default: unknown;
  scope?: string;
  description?: string;
  markdownDescription?: string;
  enum?: string[];
  enumDescriptions?: string[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string; category: string }[];
    configuration: { properties: Record<string, Contributed> };
  };
  main: string;
};
const properties = manifest.contributes.configuration.properties;

function useDefaults(): void {
  for (const [key, p] of Object.entries(properties)) {
    mock.settings.set(key, { default: p.default });
  }
}

function setUser(key: string, value: unknown): void {
  const full = `${SECTION}.${key}`;
  mock.settings.set(full, { ...mock.settings.get(full), user: value });
}

beforeEach(() => {
  mock.reset();
  useDefaults();
});

test('every setting is contributed with a scope, a description and a default', () => {
  for (const key of Object.values(Setting)) {
    const p = properties[`${SECTION}.${key}`];
    assert.ok(p, `ctask.${key} is contributed`);
    assert.ok(p.scope, `ctask.${key} has a scope`);
    assert.ok(p.description ?? p.markdownDescription, `ctask.${key} has a description`);
    assert.ok('default' in p, `ctask.${key} has a default`);
  }
  for (const [key, p] of Object.entries(properties)) {
    assert.ok(p.scope && (p.description ?? p.markdownDescription), key);
    if (p.enum) {
      assert.equal(p.enumDescriptions?.length, p.enum.length, `${key} describes every enum value`);
    }
  }
  assert.equal(properties['ctask.server.command'].default, 'ctask-ls');
});

test('every command is contributed in the ctask category', () => {
  const contributed = new Map(manifest.contributes.commands.map((c) => [c.command, c]));
  for (const id of Object.values(Command)) {
    assert.equal(contributed.get(id)?.category, 'ctask', id);
  }
  assert.deepEqual(
    ['New Task', 'Resume Task', 'Resume Last', 'Open Task Folder', 'Attach', 'Stop', 'Show Changes', 'Show Log', 'List Tasks', 'Restart Server'].filter(
      (title) => !manifest.contributes.commands.some((c) => c.title === title),
    ),
    [],
  );
});

test('only what the user set is sent to the server: the rest is the ctask config file\'s', () => {
  const config = api.getConfiguration(SECTION);
  assert.deepEqual(serverSettings(config), {});
  setUser(Setting.home, ' /data/ctask ');
  setUser(Setting.agentCommand, 'aider');
  setUser(Setting.agentArgs, ['--yes', 3]);
  setUser(Setting.staleAfter, 60);
  setUser(Setting.pollInterval, -1);
  setUser(Setting.autoAdopt, false);
  assert.deepEqual(serverSettings(config), {
    autoAdopt: false,
    home: '/data/ctask',
    agent: { command: 'aider', args: ['--yes'] },
    staleAfter: 60,
  });
});

test('the server command defaults to ctask-ls', () => {
  const config = api.getConfiguration(SECTION);
  assert.deepEqual(serverLaunch(config), { command: 'ctask-ls', args: [] });
  setUser(Setting.serverCommand, '/venv/bin/python');
  setUser(Setting.serverArgs, ['-m', 'ctask_ls']);
  assert.deepEqual(serverLaunch(config), { command: '/venv/bin/python', args: ['-m', 'ctask_ls'] });
  setUser(Setting.serverCommand, '  ');
  assert.equal(serverLaunch(config).command, 'ctask-ls');
});

test('the bundle entry point is dist/extension.js', () => {
  assert.equal(manifest.main, './dist/extension.js');
});

test('the server command is looked up on PATH or taken as a path', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctask-unit-'));
  const exe = path.join(dir, 'ctask-ls');
  fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'plain'), '', { mode: 0o644 });
  try {
    assert.equal(findExecutable('ctask-ls', `/nonexistent${path.delimiter}${dir}`), exe);
    assert.equal(findExecutable(exe, ''), exe);
    assert.equal(findExecutable('plain', dir), undefined);
    assert.equal(findExecutable('ctask-ls', '/nonexistent'), undefined);
    assert.equal(findExecutable(dir, ''), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a running ctask-ls --tcp is reached with its address and token file, from user settings only', () => {
  const config = api.getConfiguration(SECTION);
  assert.equal(tcpServer(config), undefined, 'no address: the server is started over stdio');
  setUser(SERVER_ADDRESS, ' 127.0.0.1:2087 ');
  assert.throws(() => tcpServer(config), /ctask\.server\.tokenFile is not/);
  setUser(SERVER_TOKEN_FILE, '/run/user/1000/ctask/ls-2087.token');
  assert.deepEqual(tcpServer(config), { host: '127.0.0.1', port: 2087, tokenFile: '/run/user/1000/ctask/ls-2087.token' });
  setUser(SERVER_ADDRESS, '[::1]:9000');
  assert.equal(tcpServer(config)?.host, '::1');
  for (const bad of ['localhost', '127.0.0.1:0', '127.0.0.1:70000', 'a b:1']) {
    setUser(SERVER_ADDRESS, bad);
    assert.throws(() => tcpServer(config), /is not HOST:PORT/, bad);
  }
  // A workspace (a cloned repository) cannot set where the token goes.
  mock.settings.set(`${SECTION}.${SERVER_ADDRESS}`, { default: '' });
  const workspaceOnly = {
    get: config.get.bind(config),
    inspect: <T>(key: string) => ({ defaultValue: undefined, workspaceValue: (key === SERVER_ADDRESS ? 'evil.example:1' : '/tmp/t') as T }),
  };
  assert.equal(tcpServer(workspaceOnly), undefined);
  assert.equal(properties[`${SECTION}.${SERVER_ADDRESS}`].scope, 'machine');
  assert.equal(properties[`${SECTION}.${SERVER_TOKEN_FILE}`].scope, 'machine');
});

test('the token is read from its file at each connection, and a bad file says what to fix', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctask-unit-'));
  const file = path.join(dir, 'ls-2087.token');
  try {
    assert.throws(() => readToken(file), /cannot read the token file .*ENOENT.*ctask\.server\.tokenFile/);
    fs.writeFileSync(file, 'abc123_-XYZ\n', { mode: 0o600 });
    assert.equal(readToken(file), 'abc123_-XYZ');
    fs.writeFileSync(file, '\n');
    assert.throws(() => readToken(file), /does not hold a token/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
