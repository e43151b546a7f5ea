// WebSocketStream (WHATWG streams, after the explainer), client and server side, over loopback.
import * as http from 'http';
import type { AddressInfo } from 'net';
import { connect, WebSocket, WebSocketServer } from '../../src';
import {
  upgradeToWebSocketStream,
  WebSocketStream,
  WebSocketStreamError,
} from '../../src/streams/websocket-stream';
import { echoMessages, serveOnLoopback } from '../helpers/servers';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function serve(handler: (ws: WebSocket) => void): Promise<string> {
  return serveOnLoopback(handler, cleanups);
}

const echo = echoMessages;

function track(wss: WebSocketStream): WebSocketStream {
  cleanups.push(() => {
    try {
      wss.close();
    } catch {
      /* already closed */
    }
  });
  return wss;
}

describe('WebSocketStream client', () => {
  test('opens, echoes text as strings and binary as Uint8Array, closes cleanly', async () => {
    const url = await serve((ws) => void echo(ws));
    const wss = track(new WebSocketStream(url));
    const { readable, writable, protocol, extensions } = await wss.opened;
    expect(protocol).toBe('');
    expect(extensions).toBe('');
    const writer = writable.getWriter();
    const reader = readable.getReader();
    await writer.write('héllo');
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write(new Uint16Array([0x0102]).buffer);
    await writer.write(new DataView(new Uint8Array([9, 8, 7]).buffer, 1, 2));
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await reader.read()).value);
    expect(got[0]).toBe('héllo');
    expect(got[1]).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(got[1])).toBe(false);
    expect([...(got[1] as Uint8Array)]).toEqual([1, 2, 3]);
    expect((got[2] as Uint8Array).length).toBe(2);
    expect([...(got[3] as Uint8Array)]).toEqual([8, 7]);
    wss.close({ closeCode: 3456, reason: 'pizza' });
    // wsflow echoes the code only, and `closed` reports what the peer sent.
    await expect(wss.closed).resolves.toEqual({ closeCode: 3456, reason: '' });
    // The peer's Close ends the readable.
    expect(await reader.read()).toEqual({ done: true, value: undefined });
  });

  test('negotiates a subprotocol', async () => {
    const wsServer = new WebSocketServer({ port: 0, host: '127.0.0.1', upgrader: { subprotocols: ['b', 'a'] } }, (ws) => void echo(ws));
    cleanups.push(() => wsServer.close());
    const { port } = await wsServer.listen();
    const wss = track(new WebSocketStream(`ws://127.0.0.1:${port}`, { protocols: ['a', 'b'] }));
    expect((await wss.opened).protocol).toBe('b');
  });

  test('close() validates like the browser', async () => {
    let seen: Promise<{ code: number; reason: string }> = new Promise(() => undefined);
    const url = await serve((ws) => {
      seen = new Promise((resolve) => ws.once('close', resolve));
      void echo(ws);
    });
    const wss = track(new WebSocketStream(url));
    await wss.opened;
    expect(() => wss.close({ closeCode: 1001 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => wss.close({ closeCode: 5000 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => wss.close({ closeCode: 1000, reason: 'x'.repeat(124) })).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    // A reason without a code means 1000.
    wss.close({ reason: 'done' });
    await expect(wss.closed).resolves.toEqual({ closeCode: 1000, reason: '' });
    expect(await seen).toMatchObject({ code: 1000, reason: 'done' });
  });

  test('a bad URL throws a SyntaxError at once', () => {
    expect(() => new WebSocketStream('ftp://example.com')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocketStream('ws://example.com/#frag')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
  });

  test('signal aborts the handshake: opened and closed reject', async () => {
    // A server that accepts TCP but never answers the handshake.
    const server = http.createServer();
    const held: import('stream').Duplex[] = [];
    server.on('upgrade', (_req, socket) => held.push(socket));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of held) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const controller = new AbortController();
    const wss = new WebSocketStream(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(wss.opened).rejects.toMatchObject({ name: 'AbortError' });
    await expect(wss.closed).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('a refused handshake rejects opened with a WebSocketStreamError', async () => {
    const wsServer = new WebSocketServer({ port: 0, host: '127.0.0.1', path: '/only' });
    cleanups.push(() => wsServer.close());
    const { port } = await wsServer.listen();
    const wss = new WebSocketStream(`ws://127.0.0.1:${port}/other`);
    const err = await wss.opened.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketStreamError);
    expect(err).toBeInstanceOf(DOMException);
    await expect(wss.closed).rejects.toBe(err);
  });

  test('aborting the writable with a WebSocketStreamError closes with its code and reason', async () => {
    let seen: Promise<{ code: number; reason: string }> = new Promise(() => undefined);
    const url = await serve((ws) => {
      seen = new Promise((resolve) => ws.once('close', resolve));
      void echo(ws);
    });
    const wss = track(new WebSocketStream(url));
    const { writable } = await wss.opened;
    await writable.abort(new WebSocketStreamError('stop', { closeCode: 4001, reason: 'aborted' }));
    await expect(wss.closed).resolves.toEqual({ closeCode: 4001, reason: '' });
    expect(await seen).toMatchObject({ code: 4001, reason: 'aborted' });
  });

  test('cancelling the readable closes the connection (a plain reason is ignored: 1000)', async () => {
    const url = await serve((ws) => void echo(ws));
    const wss = track(new WebSocketStream(url));
    const { readable } = await wss.opened;
    await readable.cancel(new Error('not a WebSocketStreamError'));
    await expect(wss.closed).resolves.toEqual({ closeCode: 1000, reason: '' });
  });

  test('closing the writable closes cleanly, and the writer close() waits for the handshake', async () => {
    const url = await serve((ws) => void echo(ws));
    const wss = track(new WebSocketStream(url));
    const { writable } = await wss.opened;
    const writer = writable.getWriter();
    await writer.write('last');
    await writer.close();
    // Already settled: close() resolved only after the closing handshake.
    const state = await Promise.race([wss.closed, Promise.resolve('pending')]);
    expect(state).toEqual({ closeCode: 1000, reason: '' });
  });

  test('an unclean close rejects closed with closeCode 1006 and errors the readable', async () => {
    const url = await serve((ws) => setTimeout(() => ws.terminate(), 20));
    const wss = track(new WebSocketStream(url));
    const { readable } = await wss.opened;
    const reader = readable.getReader();
    await expect(reader.read()).rejects.toMatchObject({ name: 'WebSocketError', closeCode: 1006 });
    await expect(wss.closed).rejects.toMatchObject({ closeCode: 1006 });
  });

  test('readable backpressure: an unread stream stops pulling, and the server stops being able to write', async () => {
    let serverWs: WebSocket | null = null;
    let written = 0;
    const url = await serve((ws) => {
      serverWs = ws;
      void (async () => {
        const chunk = Buffer.alloc(64 * 1024);
        try {
          for (;;) {
            await ws.writeMessage(chunk);
            written++;
          }
        } catch {
          /* closed */
        }
      })();
    });
    const wss = track(new WebSocketStream(url, { readableHighWaterMark: 4 }));
    const { readable } = await wss.opened;
    await new Promise((r) => setTimeout(r, 500));
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 300));
    // Nothing reads: the writer stalls after filling the stream queue, ws.readable and the socket buffers.
    expect(written).toBe(stalledAt);
    expect(written).toBeLessThan(400); // 25 MiB: bounded by buffers, not by time
    expect((serverWs as unknown as WebSocket).bufferedAmount).toBeGreaterThan(0);
    // Reading resumes the flow.
    const reader = readable.getReader();
    const target = written + 20;
    for (let i = 0; i < target; i++) await reader.read();
    expect(written).toBeGreaterThan(stalledAt);
  });

  test('writable backpressure: write() waits while the socket is full', async () => {
    let serverWs: WebSocket | null = null;
    const url = await serve((ws) => {
      serverWs = ws; // never reads
    });
    const wss = track(new WebSocketStream(url));
    const { writable } = await wss.opened;
    const writer = writable.getWriter();
    const chunk = new Uint8Array(256 * 1024);
    let done = 0;
    let stalled = false;
    for (let i = 0; i < 400; i++) {
      const w = writer.write(chunk).then(() => done++);
      const result = await Promise.race([w.then(() => 'ok'), new Promise((r) => setTimeout(() => r('stalled'), 300))]);
      if (result === 'stalled') {
        stalled = true;
        break;
      }
    }
    expect(stalled).toBe(true);
    expect(done).toBeLessThan(400);
    (serverWs as unknown as WebSocket).terminate();
  });
});

describe('upgradeToWebSocketStream (server side)', () => {
  test('same shape on the server: echo through pipeTo', async () => {
    const server = http.createServer();
    const serverClosed: Array<Promise<unknown>> = [];
    server.on('upgrade', (req, socket, head) => {
      const wss = upgradeToWebSocketStream(req, socket, head, { subprotocols: ['echo'] });
      serverClosed.push(wss.closed);
      void wss.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const { port } = server.address() as AddressInfo;

    const ws = await connect(`ws://127.0.0.1:${port}/path?q=1`, { protocols: ['echo'] });
    expect(ws.protocol).toBe('echo');
    await ws.writeMessage('ping');
    await ws.writeMessage(Buffer.from([7]));
    const a = await ws.readMessage();
    const b = await ws.readMessage();
    expect([a.type, a.data.toString()]).toEqual(['text', 'ping']);
    expect([b.type, [...b.data]]).toEqual(['binary', [7]]);
    // The client closes: the server's readable ends, pipeTo closes the writable, which completes the handshake.
    const info = await ws.close(1000, 'bye');
    expect(info.wasClean).toBe(true);
    await expect(serverClosed[0]).resolves.toEqual({ closeCode: 1000, reason: 'bye' });
  });

  test('a failed upgrade rejects opened (the request was answered)', async () => {
    const server = http.createServer();
    const opened: Array<Promise<unknown>> = [];
    server.on('upgrade', (req, socket, head) => {
      const upgrader = { checkOrigin: () => false };
      opened.push(upgradeToWebSocketStream(req, socket, head, upgrader).opened);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as AddressInfo;
    await expect(connect(`ws://127.0.0.1:${port}`, { origin: 'http://evil.example' })).rejects.toMatchObject({ status: 403 });
    await expect(opened[0]).rejects.toBeInstanceOf(WebSocketStreamError);
  });

  test('WebSocketStream.from wraps a WebSocketServer connection', async () => {
    const results: Array<Promise<unknown>> = [];
    const url = await serve((ws) => {
      const wss = WebSocketStream.from(ws);
      results.push(
        (async () => {
          const { readable, writable } = await wss.opened;
          const writer = writable.getWriter();
          for await (const chunk of readable as unknown as AsyncIterable<string | Uint8Array>) {
            await writer.write(typeof chunk === 'string' ? chunk.toUpperCase() : chunk);
          }
          return wss.closed;
        })(),
      );
    });
    const ws = await connect(url);
    await ws.writeMessage('abc');
    expect((await ws.readMessage()).data.toString()).toBe('ABC');
    await ws.close(4000);
    await expect(results[0]).resolves.toEqual({ closeCode: 4000, reason: '' });
  });
});
