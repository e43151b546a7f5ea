// reconnect() against real servers: one that is killed (SIGKILL, a `ws` server in a child process) and
// restarted on the same port, ones that refuse or close with given codes; stop rules, maxAttempts,
// aborts and leaving the loop.
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { CloseError, HandshakeError, reconnect, type RetryInfo, type WebSocket } from '../../src';
import { startEchoTarget, type EchoTarget } from '../helpers/echo-targets';
import { freePort } from '../helpers/proxies';
import { serveOnLoopback } from '../helpers/servers';

jest.setTimeout(60_000);

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ROOT = path.resolve(__dirname, '../..');

/** A `ws` echo server in a child process on `port`; resolves once it listens. */
async function wsChild(port: number): Promise<ChildProcess> {
  const code = `const { WebSocketServer } = require('ws');
    const wss = new WebSocketServer({ port: ${port}, host: '127.0.0.1' }, () => console.log('ready'));
    wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));`;
  const child = spawn(process.execPath, ['-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && resolve());
    child.once('exit', (c) => reject(new Error(`ws child exited ${String(c)}`)));
  });
  return child;
}

async function echoOnce(ws: WebSocket, text: string): Promise<void> {
  await ws.writeMessage(text);
  expect((await ws.readMessage()).data.toString()).toBe(text);
}

test('a server killed and restarted: 1006, refused attempts with growing waits, then a new connection', async () => {
  const port = await freePort();
  let child = await wsChild(port);
  const retries: RetryInfo[] = [];
  let restarting: Promise<void> | undefined;
  let n = 0;
  for await (const ws of reconnect(`ws://127.0.0.1:${port}/`, {
    initialDelay: 50,
    maxDelay: 400,
    resetAfter: 60_000,
    onRetry: (info) => {
      retries.push(info);
      if (retries.length === 3) restarting = wsChild(port).then((c) => void (child = c));
    },
  })) {
    n++;
    await echoOnce(ws, `hello ${n}`);
    if (n === 1) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    } else {
      // A normal close from our side: 1000, which is not retried, so the loop ends.
      await ws.close();
    }
  }
  await restarting;
  expect(n).toBe(2);
  expect(retries[0]?.reason).toMatchObject({ code: 1006, wasClean: false });
  expect(retries[1]?.reason).toMatchObject({ code: 'ECONNREFUSED' });
  expect(retries.map((r) => r.attempt)).toEqual(retries.map((_, i) => i + 1));
  expect(retries[0]?.delay).toBeLessThanOrEqual(50);
  for (const r of retries.slice(1)) {
    const cap = Math.min(400, 50 * 1.618 ** (r.attempt - 1));
    expect(r.delay).toBeGreaterThanOrEqual(Math.floor(cap / 2));
    expect(r.delay).toBeLessThanOrEqual(Math.ceil(cap));
    expect(r.at).toBeGreaterThan(Date.now() - 60_000);
  }
});

test('a write on the dead connection rejects, it is not silently lost', async () => {
  const port = await freePort();
  const child = await wsChild(port);
  for await (const ws of reconnect(`ws://127.0.0.1:${port}/`, { maxAttempts: 1 })) {
    const closed = new Promise((r) => ws.once('close', r));
    child.kill('SIGKILL');
    await closed;
    await expect(ws.writeMessage('lost?')).rejects.toBeInstanceOf(CloseError);
  }
});

describe('stop rules', () => {
  async function closingServer(codes: number[]): Promise<string> {
    let i = 0;
    return serveOnLoopback((ws) => void ws.close(codes[Math.min(i++, codes.length - 1)]).catch(() => undefined), cleanups);
  }

  test('1012 is retried, 1008 ends the loop', async () => {
    const url = await closingServer([1012, 1008]);
    const reasons: unknown[] = [];
    let n = 0;
    for await (const ws of reconnect(url, { initialDelay: 10, onRetry: (i) => reasons.push(i.reason) })) {
      n++;
      expect(ws.readyState).not.toBe('closed');
    }
    expect(n).toBe(2);
    expect(reasons).toEqual([{ code: 1012, reason: '', wasClean: true }]);
  });

  test('1000 ends it, unless shouldRetry says otherwise; maxAttempts then ends it', async () => {
    const url = await closingServer([1000]);
    let n = 0;
    for await (const _ of reconnect(url, { initialDelay: 10 })) n++;
    expect(n).toBe(1);
    n = 0;
    for await (const _ of reconnect(url, { initialDelay: 10, resetAfter: 60_000, maxAttempts: 3, shouldRetry: () => true })) n++;
    expect(n).toBe(3);
  });

  test('a 403 is thrown at once; 503s are retried', async () => {
    let calls = 0;
    const t: EchoTarget = await startEchoTarget({
      intercept: (req, res) => {
        calls++;
        if (req.url === '/forbidden') res.writeHead(403).end();
        else if (calls <= 3) res.writeHead(503).end();
        else return false;
        return true;
      },
    });
    cleanups.push(() => t.close());
    const retries: RetryInfo[] = [];
    const it = reconnect(`ws://127.0.0.1:${t.port}/forbidden`, { initialDelay: 10, onRetry: (i) => retries.push(i) });
    await expect(it[Symbol.asyncIterator]().next()).rejects.toMatchObject({ name: 'HandshakeError', status: 403 });
    expect(retries).toHaveLength(0);
    for await (const ws of reconnect(`ws://127.0.0.1:${t.port}/ok`, { initialDelay: 10, onRetry: (i) => retries.push(i) })) {
      await echoOnce(ws, 'after 503s');
      break;
    }
    expect(retries.map((r) => (r.reason as HandshakeError).status)).toEqual([503, 503]);
  });

  test('maxAttempts failed attempts in a row: the last error is thrown', async () => {
    const port = await freePort();
    const retries: RetryInfo[] = [];
    const loop = async (): Promise<void> => {
      for await (const _ of reconnect(`ws://127.0.0.1:${port}/`, { initialDelay: 5, maxAttempts: 3, onRetry: (i) => retries.push(i) })) {
        throw new Error('nothing listens there');
      }
    };
    await expect(loop()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(retries).toHaveLength(2);
  });
});

describe('ending the loop', () => {
  test('an abort during the backoff ends the loop quietly, without waiting', async () => {
    const port = await freePort();
    const ac = new AbortController();
    const started = Date.now();
    let n = 0;
    for await (const _ of reconnect(`ws://127.0.0.1:${port}/`, { signal: ac.signal, initialDelay: 30_000, onRetry: () => ac.abort() })) n++;
    expect(n).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test('an abort while connected closes the connection and ends the loop', async () => {
    const serverClosed: Array<Promise<unknown>> = [];
    const url = await serveOnLoopback((ws) => serverClosed.push(new Promise((r) => ws.once('close', r))), cleanups);
    const ac = new AbortController();
    let n = 0;
    for await (const ws of reconnect(url, { signal: ac.signal, initialDelay: 10 })) {
      n++;
      ac.abort();
      await new Promise((r) => ws.once('close', r));
    }
    expect(n).toBe(1);
    await expect(serverClosed[0]).resolves.toMatchObject({ code: 1000 });
  });

  test('break closes the current connection', async () => {
    const serverClosed: Array<Promise<unknown>> = [];
    const url = await serveOnLoopback((ws) => serverClosed.push(new Promise((r) => ws.once('close', r))), cleanups);
    for await (const _ of reconnect(url)) break;
    await expect(serverClosed[0]).resolves.toMatchObject({ code: 1000 });
  });

  test('a bad URL is thrown by the first attempt, before any I/O', async () => {
    await expect(reconnect('ftp://x/')[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(TypeError);
    await expect(reconnect('ws://x/', { maxRedirects: -1 })[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(RangeError);
    expect(HandshakeError).toBeDefined();
  });
});
