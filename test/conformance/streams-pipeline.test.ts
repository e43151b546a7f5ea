// pipeline() composition over real loopback connections: the WebSocket's own readable/writable, nextWriter(),
// and the Duplex adapters of src/streams/duplex.ts — data, backpressure, and errors in both directions.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Readable, Transform, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { connect, WebSocket, WebSocketServer } from '../../src';
import type { CloseInfo, Message } from '../../src';
import { createByteDuplex, createMessageDuplex } from '../../src/streams/duplex';

const servers: WebSocketServer[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A listening server whose connections go to `handler`, and its ws:// URL. */
async function serve(handler: (ws: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, (ws) => {
    sockets.push(ws);
    handler(ws);
  });
  servers.push(wss);
  const { port } = await wss.listen();
  return `ws://127.0.0.1:${port}/`;
}

async function client(url: string): Promise<WebSocket> {
  const ws = await connect(url);
  sockets.push(ws);
  return ws;
}

function closed(ws: WebSocket): Promise<CloseInfo> {
  return ws.readyState === 'closed'
    ? ws.close()
    : new Promise((resolve) => ws.once('close', resolve));
}

/** A deferred value, for handing server-side results to the test. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const upper = (): Transform =>
  new Transform({
    objectMode: true,
    transform(m: Message, _enc, cb) {
      cb(null, m.type === 'text' ? m.data.toString('utf8').toUpperCase() : m);
    },
  });

async function collect(ws: WebSocket): Promise<Message[]> {
  const out: Message[] = [];
  for await (const m of ws) out.push(m);
  return out;
}

describe('pipeline into nextWriter()', () => {
  test('streams a file as one message', async () => {
    const file = path.join(os.tmpdir(), `wsflow-streams-${process.pid}-${Date.now()}.bin`);
    const content = crypto.randomBytes(3 * 1024 * 1024 + 17);
    fs.writeFileSync(file, content);
    try {
      const received = deferred<{ type: string; hash: string }>();
      const url = await serve((ws) => {
        void (async () => {
          const { type, stream } = await ws.nextReader();
          const hash = crypto.createHash('sha256');
          await pipeline(stream, hash);
          received.resolve({ type, hash: hash.digest('hex') });
        })().catch(received.reject);
      });
      const ws = await client(url);
      await pipeline(fs.createReadStream(file), ws.nextWriter('binary'));
      const got = await received.promise;
      expect(got.type).toBe('binary');
      expect(got.hash).toBe(crypto.createHash('sha256').update(content).digest('hex'));
      await ws.close();
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

describe('pipeline(ws.readable, transform, ws.writable)', () => {
  test('transforms messages and resolves when the peer closes', async () => {
    const done = deferred<void>();
    const url = await serve((ws) => {
      pipeline(ws.readable, upper(), ws.writable).then(done.resolve, done.reject);
    });
    const ws = await client(url);
    for (const text of ['a', 'bc', 'déf']) await ws.writeMessage(text);
    await ws.writeMessage(Buffer.from([1, 2, 3]));
    // A Close is answered at once, so replies still in the transform would be lost: wait for them first.
    while (ws.readable.readableLength < 4) await new Promise((r) => setTimeout(r, 5));
    const replies = collect(ws);
    const info = await ws.close(1000, 'bye');
    await done.promise;
    expect(info.wasClean).toBe(true);
    const got = await replies;
    expect(got.map((m) => (m.type === 'text' ? m.data.toString() : [...m.data]))).toEqual(['A', 'BC', 'DÉF', [1, 2, 3]]);
  });

  // Destroying ws.readable/ws.writable with an error closes the connection with the error's code (else 1011).
  test('a failing transform rejects the pipeline and closes the connection with 1011', async () => {
    const done = deferred<unknown>();
    const url = await serve((ws) => {
      const failing = new Transform({
        objectMode: true,
        transform(m: Message, _enc, cb) {
          if (m.data.toString() === 'boom') cb(new Error('transform failed'));
          else cb(null, m);
        },
      });
      pipeline(ws.readable, failing, ws.writable).then(() => done.resolve(null), done.resolve);
    });
    const ws = await client(url);
    const c = closed(ws);
    void collect(ws).catch(() => undefined);
    await ws.writeMessage('ok');
    await ws.writeMessage('boom');
    const err = await done.promise;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('transform failed');
    const info = await Promise.race([c, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    expect(info?.code).toBe(1011);
  });
});

describe('relay: pipeline(a.readable, b.writable)', () => {
  test('relays both ways with ws.readable/ws.writable and ends cleanly', async () => {
    const backend = await serve((ws) => {
      void pipeline(ws.readable, ws.writable).catch(() => undefined); // echo
    });
    const results = deferred<PromiseSettledResult<void>[]>();
    const relay = await serve((a) => {
      void (async () => {
        const b = await client(backend);
        results.resolve(await Promise.allSettled([pipeline(a.readable, b.writable), pipeline(b.readable, a.writable)]));
      })();
    });
    const ws = await client(relay);
    const replies = collect(ws);
    for (let i = 0; i < 50; i++) await ws.writeMessage(`m${i}`);
    await ws.writeMessage(Buffer.alloc(200_000, 9));
    await new Promise((r) => setTimeout(r, 100));
    const info = await ws.close();
    expect(info.code).toBe(1000);
    const got = await replies;
    expect(got).toHaveLength(51);
    expect(got[49]?.data.toString()).toBe('m49');
    expect(got[50]?.data.length).toBe(200_000);
    expect((await results.promise).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
  });

  test('relays with createMessageDuplex and ends cleanly', async () => {
    const backend = await serve((ws) => {
      // One Duplex per connection: two would compete for its messages.
      const d = createMessageDuplex(ws);
      void pipeline(d, d).catch(() => undefined);
    });
    const results = deferred<PromiseSettledResult<void>[]>();
    const relay = await serve((a) => {
      void (async () => {
        const b = await client(backend);
        const da = createMessageDuplex(a);
        const db = createMessageDuplex(b);
        results.resolve(await Promise.allSettled([pipeline(da, db), pipeline(db, da)]));
      })();
    });
    const ws = await client(relay);
    const replies = collect(ws);
    for (let i = 0; i < 50; i++) await ws.writeMessage(`m${i}`);
    await new Promise((r) => setTimeout(r, 100));
    await ws.close();
    const got = await replies;
    expect(got.map((m) => m.data.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect((await results.promise).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
  });
});

/**
 * A producer pushes 64 KiB messages as fast as backpressure allows; the consumer takes one every few ms.
 * The gap between produced and consumed messages must stay bounded (by the buffers along the way), not grow
 * with the number of messages: that is what keeps a slow consumer from exhausting the producer's memory.
 */
async function assertBounded(
  makeSink: (ws: WebSocket, consume: () => Promise<void>) => Promise<void>,
  makeSource: (ws: WebSocket, produced: () => void) => Promise<void>,
  count: number,
): Promise<number> {
  let produced = 0;
  let consumed = 0;
  let maxGap = 0;
  const sinkDone = deferred<void>();
  const url = await serve((ws) => {
    makeSink(ws, async () => {
      consumed++;
      await new Promise((r) => setTimeout(r, 2));
    }).then(sinkDone.resolve, sinkDone.reject);
  });
  const ws = await client(url);
  await makeSource(ws, () => {
    produced++;
    maxGap = Math.max(maxGap, produced - consumed);
  });
  await sinkDone.promise;
  expect(consumed).toBe(count);
  return maxGap;
}

const CHUNK = Buffer.alloc(64 * 1024, 1);

function source(count: number, produced: () => void, objectMode: boolean): Readable {
  let i = 0;
  return new Readable({
    objectMode,
    highWaterMark: objectMode ? 4 : 64 * 1024,
    read() {
      if (i++ === count) {
        this.push(null);
        return;
      }
      produced();
      this.push(CHUNK);
    },
  });
}

function slowSink(consume: () => Promise<void>, objectMode: boolean): Writable {
  return new Writable({
    objectMode,
    highWaterMark: objectMode ? 4 : 64 * 1024,
    write(_chunk, _enc, cb) {
      consume().then(() => cb(), cb);
    },
  });
}

describe('backpressure', () => {
  const COUNT = 600; // 37.5 MiB in total

  test('ws.writable → ws.readable: a slow consumer holds the producer back', async () => {
    const gap = await assertBounded(
      (ws, consume) => pipeline(ws.readable, slowSink(consume, true)),
      (ws, produced) => pipeline(source(COUNT, produced, true), ws.writable),
      COUNT,
    );
    // Buffers along the way: source, writable, socket send/receive buffers, ws.readable (16), sink (4).
    expect(gap).toBeLessThan(150);
  });

  test('byte Duplex → byte Duplex: a slow consumer holds the producer back', async () => {
    const gap = await assertBounded(
      (ws, consume) => pipeline(createByteDuplex(ws), slowSink(consume, false)),
      (ws, produced) => pipeline(source(COUNT, produced, false), createByteDuplex(ws)),
      COUNT,
    );
    expect(gap).toBeLessThan(150);
  });
});

describe('errors propagate both ways', () => {
  test('a source destroyed with an error rejects pipeline(source, duplex) and closes with 1011', async () => {
    const url = await serve((ws) => void collect(ws).catch(() => undefined));
    const ws = await client(url);
    const c = closed(ws);
    let n = 0;
    const failing = new Readable({
      objectMode: true,
      read() {
        if (n++ < 3) this.push(`m${n}`);
        else this.destroy(new Error('source failed'));
      },
    });
    await expect(pipeline(failing, createMessageDuplex(ws))).rejects.toThrow('source failed');
    const info = await c;
    // The client sent 1011 and the server echoed it.
    expect(info.code).toBe(1011);
  });

  test('a sink failing rejects pipeline(duplex, sink) and the peer sees 1011 with the reason', async () => {
    const seen = deferred<CloseInfo>();
    const url = await serve((ws) => {
      ws.once('close', seen.resolve);
      void (async () => {
        for (let i = 0; i < 10; i++) await ws.writeMessage(`m${i}`);
      })().catch(() => undefined);
    });
    const ws = await client(url);
    let got = 0;
    const sink = new Writable({
      objectMode: true,
      write(_m, _enc, cb) {
        cb(++got === 3 ? new Error('disk full') : null);
      },
    });
    await expect(pipeline(createMessageDuplex(ws), sink)).rejects.toThrow('disk full');
    const info = await seen.promise;
    expect(info.code).toBe(1011);
    expect(info.reason).toBe('disk full');
  });

  test('a WebSocketError keeps its own close code', async () => {
    const url = await serve((ws) => void collect(ws).catch(() => undefined));
    const ws = await client(url);
    const c = closed(ws);
    const d = createByteDuplex(ws, { type: 'text' });
    // Invalid UTF-8 in a text stream: refused locally with 1007 instead of being sent.
    await expect(pipeline(Readable.from([Buffer.from([0x61, 0xff, 0x62])]), d)).rejects.toThrow(/UTF-8/);
    expect((await c).code).toBe(1007);
  });

  test('a connection lost without a Close (1006) errors the readable side', async () => {
    const url = await serve((ws) => {
      void ws.writeMessage('hello').then(() => setTimeout(() => ws.terminate(), 20));
    });
    const ws = await client(url);
    const got: unknown[] = [];
    await expect(
      pipeline(
        createMessageDuplex(ws),
        new Writable({
          objectMode: true,
          write(m: Message, _e, cb) {
            got.push(m.data.toString());
            cb();
          },
        }),
      ),
    ).rejects.toMatchObject({ name: 'CloseError', code: 1006 });
    expect(got).toEqual(['hello']);
  });

  // The three tests below use the WebSocket's own readable/writable streams.
  test('ws.writable destroyed with an error (source failed) closes the connection with 1011', async () => {
    const url = await serve((ws) => void collect(ws).catch(() => undefined));
    const ws = await client(url);
    const c = closed(ws);
    const failing = new Readable({
      objectMode: true,
      read() {
        this.destroy(new Error('source failed'));
      },
    });
    await expect(pipeline(failing, ws.writable)).rejects.toThrow('source failed');
    const info = await Promise.race([c, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    expect(info?.code).toBe(1011);
  });

  test('ws.readable destroyed with an error (sink failed) closes the connection with 1011', async () => {
    const seen = deferred<CloseInfo>();
    const url = await serve((ws) => {
      ws.once('close', seen.resolve);
      void ws.writeMessage('a').catch(() => undefined);
    });
    const ws = await client(url);
    const sink = new Writable({
      objectMode: true,
      write(_m, _e, cb) {
        cb(new Error('sink failed'));
      },
    });
    await expect(pipeline(ws.readable, sink)).rejects.toThrow('sink failed');
    const info = await Promise.race([seen.promise, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    expect(info?.code).toBe(1011);
  });
});

describe('a close ends the streams cleanly', () => {
  test('the peer closing ends ws.readable and pipeline(ws.readable, sink) resolves', async () => {
    const url = await serve((ws) => {
      void (async () => {
        await ws.writeMessage('x');
        await ws.close(1001, 'going');
      })();
    });
    const ws = await client(url);
    const got: string[] = [];
    await pipeline(
      ws.readable,
      new Writable({
        objectMode: true,
        write(m: Message, _e, cb) {
          got.push(m.data.toString());
          cb();
        },
      }),
    );
    expect(got).toEqual(['x']);
    expect((await closed(ws)).code).toBe(1001);
  });

  test('the peer closing ends a message Duplex and pipeline(duplex, sink) resolves', async () => {
    const url = await serve((ws) => {
      void (async () => {
        await ws.writeMessage('x');
        await ws.close(4000, 'app done');
      })();
    });
    const ws = await client(url);
    const got: string[] = [];
    await pipeline(
      createMessageDuplex(ws),
      new Writable({
        objectMode: true,
        write(m: Message, _e, cb) {
          got.push(m.data.toString());
          cb();
        },
      }),
    );
    expect(got).toEqual(['x']);
    expect((await closed(ws)).code).toBe(4000);
  });

  test('ending the source closes with 1000: pipeline(source, duplex) resolves once closed', async () => {
    const seen = deferred<Message[]>();
    const url = await serve((ws) => void collect(ws).then(seen.resolve, seen.reject));
    const ws = await client(url);
    await pipeline(Readable.from(['a', Buffer.from('b'), { type: 'text' as const, data: Buffer.from('c') }]), createMessageDuplex(ws));
    expect(ws.readyState).toBe('closed');
    expect((await seen.promise).map((m) => `${m.type}:${m.data.toString()}`)).toEqual(['text:a', 'binary:b', 'text:c']);
  });

  test('text byte Duplex keeps UTF-8 characters whole across chunks', async () => {
    const seen = deferred<Message[]>();
    const url = await serve((ws) => void collect(ws).then(seen.resolve, seen.reject));
    const ws = await client(url);
    const bytes = Buffer.from('héllo 😀 wörld');
    const chunks = [bytes.subarray(0, 2), bytes.subarray(2, 8), bytes.subarray(8, 9), bytes.subarray(9)];
    await pipeline(Readable.from(chunks), createByteDuplex(ws, { type: 'text' }));
    const got = await seen.promise;
    expect(got.every((m) => m.type === 'text')).toBe(true);
    expect(Buffer.concat(got.map((m) => m.data)).toString()).toBe('héllo 😀 wörld');
  });
});
