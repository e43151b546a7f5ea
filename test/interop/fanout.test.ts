// The hub's frames as real peers read them: `ws`, gorilla/websocket and Chromium as subscribers of one topic,
// with and without permessage-deflate (shared compressed frames with no server context takeover, per-connection
// compression with it), text and binary, in order.
import * as http from 'http';
import type * as net from 'net';
import { chromium, type Browser } from 'playwright-core';
import { WebSocket as WsClient, type RawData } from 'ws';
import { WebSocketServer, type UpgraderOptions } from '../../src';
import { buildGo, CHROMIUM, CHROMIUM_ARGS, describePeer, killAllChildren, Peer, peers, withTimeout } from './helpers';

jest.setTimeout(120_000);

/** Message i of every scenario (the gorilla peer checks the same rule): text for even i, binary for odd. */
function message(i: number): { data: string | Buffer; type: 'text' | 'binary' } {
  const body = `msg-${i}-${'abcdefghij'.repeat(i % 50)}`;
  return i % 2 === 0 ? { data: body, type: 'text' } : { data: Buffer.from(body), type: 'binary' };
}
function expectedSummary(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${i % 2 === 0 ? 'text' : 'binary'}:${message(i).data.toString()}`);
}

interface Started {
  wss: WebSocketServer;
  url: string;
  httpUrl: string;
  close: () => Promise<void>;
}

/** A wsflow server whose every connection joins topic 'news', and that serves a blank page for Chromium. */
async function startServer(upgrader: UpgraderOptions): Promise<Started> {
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><html><head><meta charset="utf-8"><title>hub</title></head><body></body></html>');
  });
  const wss = new WebSocketServer({ server: httpServer, upgrader }, (ws) => wss.hub.subscribe(ws, 'news'));
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as net.AddressInfo;
  return {
    wss,
    url: `ws://127.0.0.1:${port}/`,
    httpUrl: `http://127.0.0.1:${port}/`,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await wss.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
}

async function waitForSubscribers(s: Started, n: number): Promise<void> {
  const start = Date.now();
  while (s.wss.hub.subscriberCount('news') < n) {
    if (Date.now() - start > 30_000) throw new Error(`only ${s.wss.hub.subscriberCount('news')} of ${n} subscribers arrived`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function publishAll(s: Started, count: number, subscribers: number): void {
  for (let i = 0; i < count; i++) {
    const m = message(i);
    expect(s.wss.hub.publish('news', m.data, { type: m.type })).toBe(subscribers);
  }
}

const COUNT = 120;
const MODES: Array<[string, UpgraderOptions]> = [
  ['uncompressed', {}],
  ['compressed, no server context takeover (shared frames)', { compression: { serverNoContextTakeover: true, threshold: 64 } }],
  ['compressed, context takeover (per connection)', { compression: { threshold: 64 } }],
];

describe('ws as subscribers', () => {
  test.each(MODES)('%s', async (_name, upgrader) => {
    const s = await startServer(upgrader);
    const clients: WsClient[] = [];
    try {
      const received: string[][] = [];
      const done: Array<Promise<void>> = [];
      for (let c = 0; c < 10; c++) {
        // Half offer permessage-deflate (ws's default offer), half do not.
        const client = new WsClient(s.url, { perMessageDeflate: c % 2 === 0 });
        clients.push(client);
        const got: string[] = [];
        received.push(got);
        done.push(
          new Promise<void>((resolve, reject) => {
            client.on('message', (data: RawData, isBinary: boolean) => {
              got.push(`${isBinary ? 'binary' : 'text'}:${(data as Buffer).toString()}`);
              if (got.length === COUNT) resolve();
            });
            client.on('error', reject);
          }),
        );
        await new Promise<void>((resolve, reject) => {
          client.once('open', () => resolve());
          client.once('error', reject);
        });
      }
      await waitForSubscribers(s, 10);
      const offered = [...s.wss.clients].filter((ws) => ws.extensions.includes('permessage-deflate')).length;
      expect(offered).toBe(upgrader.compression === undefined ? 0 : 5);
      publishAll(s, COUNT, 10);
      await withTimeout(Promise.all(done), 60_000, 'ws subscribers');
      for (const got of received) expect(got).toEqual(expectedSummary(COUNT));
    } finally {
      for (const c of clients) c.terminate();
      await s.close();
    }
  });
});

describePeer('gorilla/websocket as subscribers', peers.gorilla(), () => {
  let subscriber = '';
  beforeAll(async () => {
    subscriber = await buildGo('gorilla_subscriber.go');
  }, 170_000);
  afterAll(killAllChildren);

  test.each(MODES)('%s', async (_name, upgrader) => {
    const s = await startServer(upgrader);
    try {
      const peer = new Peer(subscriber, [s.url, '8', String(COUNT), ...(upgrader.compression === undefined ? [] : ['--compression'])]);
      await peer.waitForLine(/^CONNECTED$/, 30_000);
      await waitForSubscribers(s, 8);
      publishAll(s, COUNT, 8);
      const code = await withTimeout(peer.exited, 60_000, 'gorilla subscriber exit');
      expect(peer.stderr).toBe('');
      expect(code).toBe(0);
      const reports = peer.events();
      expect(reports).toHaveLength(8);
      for (const r of reports) {
        expect(r).toMatchObject({ received: COUNT, mismatches: 0 });
        expect(r.err).toBeUndefined();
        // gorilla only compresses without context takeover: it asks for server_no_context_takeover itself.
        if (upgrader.compression !== undefined) expect(r.extensions).toMatch(/server_no_context_takeover/);
      }
    } finally {
      await s.close();
    }
  });
});

describePeer('Chromium as subscribers', peers.chromium(), () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await withTimeout(
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS],
        timeout: 60_000,
      }),
      70_000,
      'Chromium launch',
    );
  }, 80_000);
  afterAll(async () => {
    if (browser !== undefined) await withTimeout(browser.close(), 15_000, 'Chromium close').catch(() => undefined);
  }, 20_000);

  test.each(MODES)('%s', async (_name, upgrader) => {
    const s = await startServer(upgrader);
    const page = await (browser as Browser).newPage();
    try {
      await page.goto(s.httpUrl);
      // Three sockets in one page; each collects what it gets (binary as text for comparison).
      await page.evaluate(`(() => {
        window.__subs = [];
        const opened = [];
        for (let c = 0; c < 3; c++) {
          const ws = new WebSocket(${JSON.stringify(s.url)});
          ws.binaryType = 'arraybuffer';
          const sub = { got: [], extensions: '', ws };
          window.__subs.push(sub);
          ws.onmessage = (e) => sub.got.push(typeof e.data === 'string' ? 'text:' + e.data : 'binary:' + new TextDecoder().decode(e.data));
          opened.push(new Promise((resolve, reject) => { ws.onopen = () => { sub.extensions = ws.extensions; resolve(); }; ws.onerror = reject; }));
        }
        return Promise.all(opened).then(() => undefined);
      })()`);
      await waitForSubscribers(s, 3);
      publishAll(s, COUNT, 3);
      const result = await withTimeout(
        page.evaluate(`(async () => {
          const deadline = Date.now() + 50000;
          while (window.__subs.some((s) => s.got.length < ${COUNT}) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          return window.__subs.map((s) => ({ got: s.got, extensions: s.extensions }));
        })()`) as Promise<Array<{ got: string[]; extensions: string }>>,
        60_000,
        'Chromium subscribers',
      );
      for (const r of result) {
        expect(r.got).toEqual(expectedSummary(COUNT));
        if (upgrader.compression !== undefined) expect(r.extensions).toMatch(/permessage-deflate/);
      }
    } finally {
      await withTimeout(page.close(), 5000, 'page close').catch(() => undefined);
      await s.close();
    }
  });
});
