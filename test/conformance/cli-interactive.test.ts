// `wsflow connect` on a terminal: a real pseudo-terminal from tmux (its own server socket, killed after),
// keys sent with send-keys and the screen read with capture-pane.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ensureBuilt, killAll, startServe } from './cli-helpers';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux && process.env.CI) throw new Error('tmux is required for the interactive CLI test on CI');
const describeTty = hasTmux ? describe : describe.skip;

const SOCKET = `wsflow-test-${process.pid}`;
const SESSION = 'cli';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', timeout: 5000 });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-J', '-t', SESSION, '-S', '-200');
}

async function waitForScreen(pattern: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = screen();
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the terminal:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function type(text: string): void {
  tmux('send-keys', '-t', SESSION, '-l', text);
  tmux('send-keys', '-t', SESSION, 'Enter');
}

describeTty('wsflow connect on a terminal', () => {
  let dir: string;
  beforeAll(() => ensureBuilt(), 120_000);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-tty-'));
  });
  afterEach(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('sends lines, /ping, /help, /close 4001 bye; keeps history; exits 0', async () => {
    const { cli: server, port } = await startServe();
    const history = path.join(dir, 'history');
    const command = `WSFLOW_HISTORY_FILE=${history} ${process.execPath} ${CLI} connect ws://127.0.0.1:${port}/echo; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '160', '-y', '50', command);

    await waitForScreen(/connected to ws:\/\/127\.0\.0\.1:\d+\/echo/);
    type('hello there');
    await waitForScreen(/^< hello there$/m);
    type('//slash');
    await waitForScreen(/^< \/slash$/m);
    type('/ping abc');
    await waitForScreen(/^< pong: abc$/m);
    type('/help');
    await waitForScreen(/\/close \[code\] \[reason\]/);
    type('/close 99');
    await waitForScreen(/error: close code 99 may not be sent/);
    type('/close 4001 bye');
    // The server echoes the code; the server logs the reason it was given.
    const final = await waitForScreen(/EXIT=\d+/);
    expect(final).toMatch(/closed: 4001/);
    expect(final).toMatch(/EXIT=0/);
    await server.waitFor(/closed: 4001 bye/);
    expect(fs.readFileSync(history, 'utf8')).toContain('hello there');
  }, 40_000);

  test('Ctrl-D closes with 1000', async () => {
    const { cli: server, port } = await startServe();
    const command = `WSFLOW_HISTORY_FILE= ${process.execPath} ${CLI} connect ws://127.0.0.1:${port}/echo; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '160', '-y', '50', command);
    await waitForScreen(/connected to/);
    tmux('send-keys', '-t', SESSION, 'C-d');
    const final = await waitForScreen(/EXIT=\d+/);
    expect(final).toMatch(/closed: 1000/);
    expect(final).toMatch(/EXIT=0/);
    await server.waitFor(/closed: 1000/);
  }, 30_000);
});
