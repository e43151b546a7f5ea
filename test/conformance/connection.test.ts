import { pipeline } from 'stream/promises';
import { Readable, Writable } from 'stream';
import { CloseError, isCloseError } from '../../src';
import { WebSocket } from '../../src/connection/websocket';
import { closed, wsPair } from '../helpers/pair';

let open: WebSocket[] = [];
async function pair(...args: Parameters<typeof wsPair>) {
  const p = await wsPair(...args);
  open.push(p.server, p.client);
  return p;
}
afterEach(() => {
  for (const ws of open) ws.terminate();
  open = [];
});

async function echo(ws: WebSocket): Promise<void> {
  for await (const message of ws) await ws.writeMessage(message.data, message.type);
}

describe('connection: messages', () => {
  test.each([
    ['text', 'hello, wörld 😀', 'text'],
    ['empty text', '', 'text'],
    ['binary', Buffer.from([0, 1, 2, 255]), 'binary'],
    ['empty binary', Buffer.alloc(0), 'binary'],
    ['64 KiB binary', Buffer.alloc(65536, 7), 'binary'],
  ] as const)('echoes %s both ways', async (_name, data, type) => {
    const { server, client } = await pair();
    void echo(server);
    await client.writeMessage(data as string | Uint8Array);
    const m = await client.readMessage();
    expect(m.type).toBe(type);
    expect(m.data.equals(Buffer.from(data as string | Uint8Array))).toBe(true);
  });

  test('echoes a 16 MiB message', async () => {
    const { server, client } = await pair();
    void echo(server);
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    await client.writeMessage(big);
    const m = await client.readMessage();
    expect(m.data.equals(big)).toBe(true);
  });

  test('1,000 fragments make one message, with pings between fragments', async () => {
    const { server, client } = await pair();
    const pongs: Buffer[] = [];
    client.on('pong', (p: Buffer) => pongs.push(p));
    void echo(server);
    const writer = client.nextWriter('text');
    for (let i = 0; i < 1000; i++) {
      writer.write(`${i},`);
      if (i % 100 === 0) await client.ping(`p${i}`);
    }
    writer.end();
    const m = await client.readMessage();
    expect(m.type).toBe('text');
    expect(m.data.toString()).toBe(Array.from({ length: 1000 }, (_, i) => `${i},`).join(''));
    expect(pongs.map(String)).toEqual(Array.from({ length: 10 }, (_, i) => `p${i * 100}`));
  });

  test('messages keep their order through writeMessage, writable and nextWriter', async () => {
    const { server, client } = await pair();
    const got: string[] = [];
    const reading = (async () => {
      for await (const m of server) {
        got.push(m.data.toString());
        if (got.length === 5) return;
      }
    })();
    void client.writeMessage('1');
    const w = client.nextWriter('text');
    void client.writeMessage('3'); // must wait for the writer
    w.write('2a');
    w.end('2b');
    client.writable.write('4');
    client.writable.write({ type: 'binary', data: Buffer.from('5') });
    await reading;
    expect(got).toEqual(['1', '2a2b', '3', '4', '5']);
  });

  test('readable is an objectMode stream of messages and writable takes them', async () => {
    const { server, client } = await pair();
    const upper = new (require('stream').Transform)({
      objectMode: true,
      transform(m: { type: 'text'; data: Buffer }, _e: string, cb: (e: null, v: unknown) => void) {
        cb(null, { type: m.type, data: Buffer.from(m.data.toString().toUpperCase()) });
      },
    });
    void pipeline(server.readable, upper, server.writable).catch(() => undefined);
    await client.writeMessage('shout');
    expect((await client.readMessage()).data.toString()).toBe('SHOUT');
  });
});

describe('connection: streaming messages', () => {
  test('nextWriter → nextReader streams 256 MiB as many frames with bounded memory', async () => {
    const { server, client } = await pair({ maxPayload: 1024 * 1024 }, {});
    const total = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 0x5a);
    const before = process.memoryUsage().rss;
    let peak = before;
    const reading = (async () => {
      const { type, stream } = await server.nextReader();
      expect(type).toBe('binary');
      let received = 0;
      for await (const part of stream) {
        received += (part as Buffer).length;
        if (received % (16 * 1024 * 1024) < (part as Buffer).length) peak = Math.max(peak, process.memoryUsage().rss);
      }
      return received;
    })();
    await pipeline(
      Readable.from((function* () {
        for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
      })()),
      client.nextWriter('binary'),
    );
    expect(await reading).toBe(total);
    // Far below the message size: the message was never held whole.
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
  }, 120000);
});

describe('connection: control frames', () => {
  test('pings are answered with pongs carrying the same payload', async () => {
    const { server, client } = await pair();
    const pong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
    const pinged = new Promise<Buffer>((resolve) => server.once('ping', resolve));
    void server.readMessage().catch(() => undefined);
    await client.ping(Buffer.from([1, 2, 3]));
    expect([...(await pinged)]).toEqual([1, 2, 3]);
    expect([...(await pong)]).toEqual([1, 2, 3]);
  });

  test('a ping handler replaces the automatic pong', async () => {
    const { server, client } = await pair();
    server.setPingHandler((payload) => void server.pong(Buffer.concat([payload, Buffer.from('!')])));
    const pong = new Promise<Buffer>((resolve) => client.once('pong', resolve));
    void server.readMessage().catch(() => undefined);
    await client.ping('hi');
    expect((await pong).toString()).toBe('hi!');
  });

  test('a ping over 125 bytes is refused locally', async () => {
    const { client } = await pair();
    await expect(client.ping(Buffer.alloc(126))).rejects.toThrow(RangeError);
  });

  test('keepAlive terminates a peer that stops answering', async () => {
    const { server, client } = await pair({ keepAlive: { interval: 50, timeout: 100 } });
    client.setPingHandler(() => undefined); // a peer that never pongs
    const clientClosed = closed(client);
    const info = await closed(server);
    expect(info.code).toBe(1006);
    expect(info.wasClean).toBe(false);
    expect((await clientClosed).code).toBe(1006);
  });

  test('keepAlive keeps an answering peer open', async () => {
    const { server, client } = await pair({ keepAlive: { interval: 20, timeout: 200 } });
    void client.readMessage().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(server.readyState).toBe('open');
  });
});

describe('connection: closing', () => {
  test('client-initiated close: code echoed, server closes TCP, both clean', async () => {
    const { server, client } = await pair();
    const serverClosed = closed(server);
    void server.readMessage().catch(() => undefined);
    const info = await client.close(4000, 'done here');
    expect(info).toEqual({ code: 4000, reason: '', wasClean: true });
    expect(await serverClosed).toEqual({ code: 4000, reason: 'done here', wasClean: true });
  });

  test('server-initiated close', async () => {
    const { server, client } = await pair();
    void client.readMessage().catch(() => undefined);
    const clientClosed = closed(client);
    const info = await server.close(1001, 'bye');
    expect(info.wasClean).toBe(true);
    expect(await clientClosed).toEqual({ code: 1001, reason: 'bye', wasClean: true });
  });

  test('readMessage rejects with a CloseError once closed, after delivering what arrived', async () => {
    const { server, client } = await pair();
    await client.writeMessage('last words');
    await client.close(1000);
    expect((await server.readMessage()).data.toString()).toBe('last words');
    const err = await server.readMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloseError);
    expect(isCloseError(err, 1000)).toBe(true);
  });

  test('close times out against a peer that never answers', async () => {
    const { server, client } = await pair({ closeTimeout: 200 });
    // The client never reads, so it never sees the Close.
    const socket = (client as unknown as { socket: import('net').Socket }).socket;
    socket.removeAllListeners('data');
    socket.pause();
    const started = Date.now();
    const info = await server.close(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(info.wasClean).toBe(false);
  });

  test('abrupt socket loss is 1006, not clean', async () => {
    const { server, client } = await pair();
    const pending = server.readMessage();
    client.terminate();
    const info = await closed(server);
    expect(info).toEqual({ code: 1006, reason: '', wasClean: false });
    await expect(pending).rejects.toMatchObject({ code: 1006 });
  });

  test('writes after close are refused', async () => {
    const { server, client } = await pair();
    void server.readMessage().catch(() => undefined);
    await client.close();
    await expect(client.writeMessage('late')).rejects.toBeInstanceOf(CloseError);
  });

  test('invalid close codes are refused locally', async () => {
    const { client } = await pair();
    await expect(client.close(1005)).rejects.toThrow(RangeError);
  });
});

describe('connection: limits and backpressure', () => {
  test('a message over maxPayload closes with 1009', async () => {
    const { server, client } = await pair({ maxPayload: 1000 });
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    void client.readMessage().catch(() => undefined);
    const clientClosed = closed(client);
    await client.writeMessage(Buffer.alloc(1001));
    expect(await errored).toMatchObject({ closeCode: 1009 });
    expect((await clientClosed).code).toBe(1009);
  });

  test('a fragmented message over maxPayload closes with 1009', async () => {
    const { server, client } = await pair({ maxPayload: 1000 });
    void client.readMessage().catch(() => undefined);
    const serverClosed = closed(server);
    const w = client.nextWriter('binary');
    for (let i = 0; i < 11; i++) w.write(Buffer.alloc(100));
    w.end();
    await expect(server.readMessage()).rejects.toMatchObject({ closeCode: 1009 });
    await serverClosed;
  });

  test('a reader that never reads keeps the server memory bounded while the client writes 1 GiB', async () => {
    const { server, client } = await pair();
    // The server reads nothing; the client writes until writeMessage stops resolving.
    const chunk = Buffer.alloc(1024 * 1024);
    let written = 0;
    const before = process.memoryUsage().rss;
    const writing = (async () => {
      while (written < 1024 * chunk.length) {
        await client.writeMessage(chunk);
        written += chunk.length;
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const grown = process.memoryUsage().rss - before;
    expect(written).toBeLessThan(200 * chunk.length);
    expect(grown).toBeLessThan(256 * 1024 * 1024);
    expect((server as unknown as { inbox: unknown[] }).inbox.length).toBeLessThanOrEqual(16);
    client.terminate();
    await writing.catch(() => undefined);
  }, 30000);

  test('bufferedAmount is exposed and maxBufferedAmount closes a slow reader with 1008', async () => {
    const { server, client } = await pair({ maxBufferedAmount: 4 * 1024 * 1024 });
    client.readable.pause();
    (client as unknown as { socket: { pause: () => void } }).socket.pause();
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    const chunk = Buffer.alloc(256 * 1024);
    let error: unknown;
    for (let i = 0; i < 200 && error === undefined; i++) {
      server.writeMessage(chunk).catch((e: unknown) => (error = e));
      await new Promise((r) => setImmediate(r));
    }
    expect(await errored).toMatchObject({ closeCode: 1008 });
    expect(server.bufferedAmount).toBeGreaterThan(0);
  });

  test('a writable stream piped into the connection sees backpressure', async () => {
    const { server, client } = await pair();
    let chunks = 0;
    const source = Readable.from((function* () {
      for (; chunks < 64; chunks++) yield Buffer.alloc(1024 * 1024);
    })());
    const done = pipeline(source, client.writable);
    const reading = (async () => {
      let n = 0;
      for await (const m of server) {
        n += m.data.length;
        if (n === 64 * 1024 * 1024) return n;
      }
      return n;
    })();
    expect(await reading).toBe(64 * 1024 * 1024);
    await done;
    expect(client.readyState).not.toBe('open');
    void Writable;
  }, 30000);
});

describe('connection: the message event', () => {
  test('while someone listens, messages go to the event, in order, with their type', async () => {
    const { server, client } = await pair();
    const got: Array<[string, string]> = [];
    const done = new Promise<void>((resolve) => {
      server.on('message', (data, type) => {
        got.push([type, data.toString()]);
        void server.writeMessage(data, type);
        if (got.length === 3) resolve();
      });
    });
    await client.writeMessage('one');
    await client.writeMessage(Buffer.from('two'));
    await client.writeMessage('three');
    await done;
    expect(got).toEqual([['text', 'one'], ['binary', 'two'], ['text', 'three']]);
    expect((await client.readMessage()).data.toString()).toBe('one');
  });

  test('without a listener, messages queue for readMessage again', async () => {
    const { server, client } = await pair();
    const listener = (): void => undefined;
    server.on('message', listener);
    server.off('message', listener);
    await client.writeMessage('queued');
    expect((await server.readMessage()).data.toString()).toBe('queued');
  });
});
