// The browser-API facade (`wsflow/standard`): browser-style code against a wsflow server, and the server side.
import { WebSocket as WsflowWebSocket, WebSocketServer, connect } from '../../src';
import { CloseEvent, WebSocket } from '../../src/standard';
import { echoMessages, serveOnLoopback } from '../helpers/servers';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function serve(handler: (ws: WsflowWebSocket) => void, opts: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<string> {
  return serveOnLoopback(handler, cleanups, opts);
}

const echo = echoMessages;

function track(ws: WebSocket): WebSocket {
  cleanups.push(() => {
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
  });
  return ws;
}

describe('standard WebSocket: browser-style client code', () => {
  test('a browser snippet runs unchanged', async () => {
    const url = await serve((ws) => void echo(ws), { upgrader: { subprotocols: ['chat'] } });
    const log: string[] = [];
    const done = new Promise<CloseEvent>((resolve) => {
      // --- browser code ---
      const socket = new WebSocket(url, ['chat']);
      track(socket);
      socket.binaryType = 'arraybuffer';
      socket.onopen = () => {
        log.push(`open ${socket.protocol} ${socket.readyState}`);
        socket.send('hello');
        socket.send(new Uint8Array([1, 2, 3]));
      };
      socket.onmessage = (event) => {
        if (typeof event.data === 'string') log.push(`text ${event.data}`);
        else log.push(`binary ${[...new Uint8Array(event.data as ArrayBuffer)].join(',')}`);
        if (log.length === 3) socket.close(1000, 'done');
      };
      socket.onerror = () => log.push('error');
      socket.onclose = (event) => {
        log.push(`close ${event.code} ${event.wasClean} ${socket.readyState}`);
        resolve(event);
      };
      // --- end ---
      expect(socket.readyState).toBe(WebSocket.CONNECTING);
    });
    const event = await done;
    expect(event).toBeInstanceOf(CloseEvent);
    expect(event).toBeInstanceOf(Event);
    expect(log).toEqual(['open chat 1', 'text hello', 'binary 1,2,3', 'close 1000 true 3']);
  });

  test('addEventListener, MessageEvent, binaryType nodebuffer (default) and blob, Blob and ArrayBuffer sends keep their order', async () => {
    const url = await serve((ws) => void echo(ws));
    const socket = track(new WebSocket(url));
    expect(socket.binaryType).toBe('nodebuffer');
    const events: MessageEvent[] = [];
    socket.addEventListener('message', (ev) => events.push(ev as MessageEvent));
    await new Promise((r) => socket.addEventListener('open', r, { once: true }));
    socket.send(new Blob([Buffer.from('blob-1')]));
    socket.send('after-blob');
    socket.send(new Uint16Array([0x4241]).buffer);
    socket.send(Buffer.from('buf'));
    while (events.length < 4) await new Promise((r) => setTimeout(r, 5));
    expect(events[0]).toBeInstanceOf(MessageEvent);
    expect(events[0]?.origin).toBe(new URL(url).origin);
    expect(Buffer.isBuffer(events[0]?.data)).toBe(true);
    expect((events[0]?.data as Buffer).toString()).toBe('blob-1');
    expect(events[1]?.data).toBe('after-blob');
    expect((events[2]?.data as Buffer).toString('latin1')).toBe('AB');
    expect((events[3]?.data as Buffer).toString()).toBe('buf');

    socket.binaryType = 'blob';
    socket.binaryType = 'bogus' as 'blob'; // ignored, as in browsers
    expect(socket.binaryType).toBe('blob');
    socket.send(Buffer.from('as-blob'));
    while (events.length < 5) await new Promise((r) => setTimeout(r, 5));
    const blob = events[4]?.data as Blob;
    expect(Object.prototype.toString.call(blob)).toBe('[object Blob]');
    expect(await blob.text()).toBe('as-blob');
  });

  test('static and instance constants, url normalisation', async () => {
    const url = await serve((ws) => void echo(ws));
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    const socket = track(new WebSocket(url.replace('ws:', 'http:')));
    expect(socket.url).toBe(url);
    expect(socket.OPEN).toBe(1);
    expect(socket.bufferedAmount).toBe(0);
    expect(socket.extensions).toBe('');
  });

  test('argument checks throw DOMExceptions as browsers do', async () => {
    expect(() => new WebSocket('ftp://x')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocket('ws://x/#f')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocket('ws://127.0.0.1:1', ['a', 'a'])).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => new WebSocket('ws://127.0.0.1:1', 'not a token')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));

    const url = await serve((ws) => void echo(ws));
    const socket = track(new WebSocket(url));
    expect(() => socket.send('too early')).toThrow(expect.objectContaining({ name: 'InvalidStateError' }));
    await new Promise((r) => (socket.onopen = r));
    expect(() => socket.close(1001)).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => socket.close(2999)).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => socket.close(5000)).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
    expect(() => socket.close(1000, 'é'.repeat(62))).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(() => socket.send(42 as unknown as string)).toThrow(TypeError);
    const closed = new Promise<CloseEvent>((r) => (socket.onclose = r));
    socket.close(4000, 'é'.repeat(61));
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    socket.send('dropped silently'); // no throw after close()
    expect((await closed).code).toBe(4000);
  });

  test('a failed handshake fires error then close(1006)', async () => {
    const url = await serve(() => undefined, { path: '/only' });
    const socket = new WebSocket(`${url}elsewhere`);
    const order: string[] = [];
    socket.onerror = (ev) => order.push(`error:${ev.type}`);
    const ev = await new Promise<CloseEvent>((resolve) => {
      socket.onclose = (e) => {
        order.push('close');
        resolve(e);
      };
    });
    expect(order).toEqual(['error:error', 'close']);
    expect([ev.code, ev.wasClean]).toEqual([1006, false]);
    expect(socket.readyState).toBe(WebSocket.CLOSED);
  });

  test('close() while connecting abandons the handshake', async () => {
    const url = await serve((ws) => void echo(ws));
    const socket = new WebSocket(url);
    const ev = new Promise<CloseEvent>((r) => (socket.onclose = r));
    socket.onerror = () => undefined;
    socket.close();
    expect(socket.readyState).toBe(WebSocket.CLOSING);
    expect((await ev).code).toBe(1006);
  });

  test('a connection lost without a Close fires error then close(1006)', async () => {
    const url = await serve((ws) => setTimeout(() => ws.terminate(), 20));
    const socket = new WebSocket(url);
    const order: string[] = [];
    socket.onerror = () => order.push('error');
    const ev = await new Promise<CloseEvent>((r) => (socket.onclose = r));
    expect(order).toEqual(['error']);
    expect([ev.code, ev.wasClean]).toEqual([1006, false]);
  });
});

describe('standard WebSocket: server side', () => {
  test('WebSocket.from(ws) gives a server handler the same API', async () => {
    const serverLog: string[] = [];
    const serverClosed = new Promise<CloseEvent>((resolve) => {
      void serve((raw) => {
        const ws = WebSocket.from(raw, 'ws://server/');
        expect(ws.readyState).toBe(WebSocket.OPEN);
        ws.onmessage = (ev) => {
          serverLog.push(String(ev.data));
          ws.send(`echo:${String(ev.data)}`);
        };
        ws.onclose = resolve;
      }).then((url) => {
        void (async () => {
          const client = await connect(url);
          await client.writeMessage('one');
          serverLog.push(`client got ${(await client.readMessage()).data.toString()}`);
          await client.close(1000, 'bye');
        })();
      });
    });
    const ev = await serverClosed;
    expect([ev.code, ev.reason, ev.wasClean]).toEqual([1000, 'bye', true]);
    expect(serverLog).toEqual(['one', 'client got echo:one']);
  });

  test('ws-style code ported to the standard API (addEventListener instead of .on)', async () => {
    // ws: wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
    const url = await serve((raw) => {
      const ws = WebSocket.from(raw);
      ws.addEventListener('message', (ev) => ws.send((ev as MessageEvent).data as string | Buffer));
    });
    const client = track(new WebSocket(url));
    const got: unknown[] = [];
    client.addEventListener('open', () => {
      client.send('t');
      client.send(Buffer.from([5]));
    });
    client.addEventListener('message', (ev) => got.push((ev as MessageEvent).data));
    while (got.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(got[0]).toBe('t');
    expect([...(got[1] as Buffer)]).toEqual([5]);
  });
});

describe('standard WebSocket: close() without a code', () => {
  test('sends a Close with no status, which the server reports as 1005, like a browser', async () => {
    let serverClose: Promise<{ code: number }> | undefined;
    const url = await serve((ws) => {
      serverClose = new Promise((resolve) => ws.once('close', resolve));
      void echo(ws);
    });
    const socket = track(new WebSocket(url));
    await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
    const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true }));
    socket.close();
    expect((await closed).code).toBe(1005);
    expect((await serverClose)?.code).toBe(1005);
  });
});
