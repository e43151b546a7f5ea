// The read path the README teaches (`for await (const m of ws) await ws.writeMessage(m.data, m.type)`):
// the hand-written async iterator, readMessage() and writeMessage()'s promise, over real loopback sockets.
import { once } from 'events';
import { CloseError, WebSocketError } from '../../src';
import { WebSocket, type Message } from '../../src/connection/websocket';
import { closed, socketPair, wsPair } from '../helpers/pair';

let open: WebSocket[] = [];
const rawClose: Array<() => void> = [];
async function pair(): Promise<{ server: WebSocket; client: WebSocket }> {
  const p = await wsPair();
  open.push(p.server, p.client);
  return p;
}
afterEach(() => {
  for (const ws of open) ws.terminate();
  open = [];
  for (const c of rawClose.splice(0)) c();
});

/** Sends `texts` then a ping, and resolves once the server has parsed them all (its 'ping' comes after). */
async function deliver(server: WebSocket, client: WebSocket, texts: string[]): Promise<void> {
  const pinged = once(server, 'ping');
  for (const t of texts) void client.writeMessage(t);
  void client.ping();
  await pinged;
}

/** What `promise` has settled with after one turn of the microtask queue, or 'pending'. */
async function settledNow<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown } | 'pending'> {
  let state: { value: T } | { error: unknown } | 'pending' = 'pending';
  promise.then(
    (value) => (state = { value }),
    (error: unknown) => (state = { error }),
  );
  await null;
  return state;
}

const text = (s: string): Message => ({ type: 'text', data: Buffer.from(s) });

describe('the async iterator', () => {
  test('messages already received come from already-settled promises, in order', async () => {
    const { server, client } = await pair();
    await deliver(server, client, ['a', 'b', 'c']);
    const it = server[Symbol.asyncIterator]();
    for (const s of ['a', 'b', 'c']) expect(await settledNow(it.next())).toEqual({ value: { value: text(s), done: false } });
    // Nothing more: the next one waits, then takes the next message.
    const waiting = it.next();
    expect(await settledNow(waiting)).toBe('pending');
    await client.writeMessage('d');
    expect(await waiting).toEqual({ value: text('d'), done: false });
  });

  test('a parked loop takes each message as it comes, and a close ends it without an error', async () => {
    const { server, client } = await pair();
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of server) seen.push(m.data.toString());
      return 'ended';
    })();
    for (const s of ['1', '2', '3']) await client.writeMessage(s);
    await client.close(4000, 'bye');
    await expect(loop).resolves.toBe('ended');
    expect(seen).toEqual(['1', '2', '3']);
  });

  test('messages received before the Close are still delivered, then the loop ends', async () => {
    const { server, client } = await pair();
    await deliver(server, client, ['x', 'y']);
    await client.close();
    await closed(server);
    const seen: string[] = [];
    for await (const m of server) seen.push(m.data.toString());
    expect(seen).toEqual(['x', 'y']);
  });

  test('a protocol failure is thrown once; the iterator is done after it', async () => {
    const { server: serverSocket, client: raw, close } = await socketPair();
    rawClose.push(close);
    const server = new WebSocket(serverSocket, Buffer.alloc(0), { isServer: true });
    open.push(server);
    const it = server[Symbol.asyncIterator]();
    const waiting = it.next();
    // An unmasked frame from a client: 1002.
    raw.write(Buffer.from([0x81, 0x01, 0x41]));
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketError);
    expect((err as WebSocketError).closeCode).toBe(1002);
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
  });

  test('break leaves the connection open; readMessage() and a new loop carry on', async () => {
    const { server, client } = await pair();
    await deliver(server, client, ['first', 'second', 'third']);
    for await (const m of server) {
      expect(m.data.toString()).toBe('first');
      break;
    }
    expect(server.readyState).toBe('open');
    expect((await server.readMessage()).data.toString()).toBe('second');
    for await (const m of server) {
      expect(m.data.toString()).toBe('third');
      break;
    }
  });

  test('return() ends a next() still waiting, and later ones', async () => {
    const { server, client } = await pair();
    const it = server[Symbol.asyncIterator]();
    const waiting = it.next();
    await expect(it.return()).resolves.toEqual({ value: undefined, done: true });
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
    // The message goes to whoever reads next, not to the ended iterator.
    await client.writeMessage('kept');
    expect((await server.readMessage()).data.toString()).toBe('kept');
  });

  test('return() also ends a second next() still queued, and leaves other readers waiting', async () => {
    const { server, client } = await pair();
    const it = server[Symbol.asyncIterator]();
    const a = it.next();
    const other = server.readMessage();
    const b = it.next();
    await it.return();
    await expect(a).resolves.toEqual({ value: undefined, done: true });
    await expect(b).resolves.toEqual({ value: undefined, done: true });
    await client.writeMessage('for the other');
    expect(await other).toEqual(text('for the other'));
  });

  test('throw() ends the iterator and rejects with the error', async () => {
    const { server } = await pair();
    const it = server[Symbol.asyncIterator]();
    const waiting = it.next();
    const boom = new Error('boom');
    await expect(it.throw(boom)).rejects.toBe(boom);
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
  });

  test('next() called again before the first settles: each takes its own message, in order', async () => {
    const { server, client } = await pair();
    const it = server[Symbol.asyncIterator]();
    const a = it.next();
    const b = it.next();
    const c = it.next();
    for (const s of ['1', '2']) await client.writeMessage(s);
    expect(await a).toEqual({ value: text('1'), done: false });
    expect(await b).toEqual({ value: text('2'), done: false });
    await client.close();
    await expect(c).resolves.toEqual({ value: undefined, done: true });
  });

  test('readMessage() and the iterator waiting together are served in the order they asked', async () => {
    const { server, client } = await pair();
    const it = server[Symbol.asyncIterator]();
    const first = server.readMessage();
    const second = it.next();
    const third = server.readMessage();
    for (const s of ['1', '2', '3']) await client.writeMessage(s);
    expect(await first).toEqual(text('1'));
    expect(await second).toEqual({ value: text('2'), done: false });
    expect(await third).toEqual(text('3'));
    // A close rejects readMessage() with a CloseError but ends the iterator quietly.
    const r = server.readMessage().catch((e: unknown) => e);
    const n = it.next();
    await client.close(4001, 'done');
    const err = await r;
    expect(err).toBeInstanceOf(CloseError);
    expect((err as CloseError).code).toBe(4001);
    await expect(n).resolves.toEqual({ value: undefined, done: true });
  });

  test('a failure rejects a waiting readMessage() and iterator alike with the same error', async () => {
    const { server: serverSocket, client: raw, close } = await socketPair();
    rawClose.push(close);
    const server = new WebSocket(serverSocket, Buffer.alloc(0), { isServer: true });
    open.push(server);
    const it = server[Symbol.asyncIterator]();
    const r = server.readMessage();
    const n = it.next();
    raw.write(Buffer.from([0x81, 0x01, 0x41]));
    const e1 = await r.catch((e: unknown) => e);
    const e2 = await n.catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(WebSocketError);
    expect(e2).toBe(e1);
  });

  test('the iterator is its own async iterator and can be disposed where Symbol.asyncDispose exists', async () => {
    const { server } = await pair();
    const it = server[Symbol.asyncIterator]();
    expect(it[Symbol.asyncIterator]()).toBe(it);
    const dispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
    if (dispose === undefined) return;
    const waiting = it.next();
    await (it as unknown as Record<symbol, () => Promise<void>>)[dispose]();
    await expect(waiting).resolves.toEqual({ value: undefined, done: true });
  });
});

describe('readMessage() and writeMessage() promises', () => {
  test('readMessage() of a message already received is settled at once; a waiting one is not', async () => {
    const { server, client } = await pair();
    await deliver(server, client, ['ready']);
    expect(await settledNow(server.readMessage())).toEqual({ value: text('ready') });
    const waiting = server.readMessage();
    expect(await settledNow(waiting)).toBe('pending');
    await client.writeMessage('later');
    expect(await waiting).toEqual(text('later'));
  });

  test('writeMessage() returns an already-resolved promise when the socket took the bytes', async () => {
    const { server, client } = await pair();
    const got = server.readMessage();
    expect(await settledNow(client.writeMessage('fits'))).toEqual({ value: undefined });
    expect((await got).data.toString()).toBe('fits');
  });

  test('writeMessage() takes a message larger than the high-water mark at once when nothing waited to be sent', async () => {
    const { server, client } = await pair();
    const big = Buffer.alloc(8 * 1024 * 1024);
    const write = client.writeMessage(big);
    expect(await settledNow(write)).toEqual({ value: undefined });
    expect(client.bufferedAmount).toBeGreaterThan(256 * 1024);
    expect((await server.readMessage()).data.length).toBe(big.length);
  });

  test('writeMessage() waits for drain while 256 KiB or more wait to be sent, and resolves after it', async () => {
    const { server, client } = await pair();
    // Nobody reads on the server yet: the first message is still buffered when the second is written.
    const big = Buffer.alloc(8 * 1024 * 1024);
    const first = client.writeMessage(big);
    const second = client.writeMessage('after');
    expect(await settledNow(first)).toEqual({ value: undefined });
    expect(await settledNow(second)).toBe('pending');
    expect((await server.readMessage()).data.length).toBe(big.length);
    expect((await server.readMessage()).data.toString()).toBe('after');
    await expect(second).resolves.toBeUndefined();
  });

  test('writeMessage() does not wait while less than 256 KiB waits to be sent', async () => {
    const { server, client } = await pair();
    const chunk = Buffer.alloc(64 * 1024);
    const writes = [client.writeMessage(chunk), client.writeMessage(chunk), client.writeMessage(chunk), client.writeMessage(chunk)];
    expect(await Promise.all(writes.map((w) => settledNow(w)))).toEqual(writes.map(() => ({ value: undefined })));
    const fifth = client.writeMessage(chunk);
    expect(await settledNow(fifth)).toBe('pending');
    for (let i = 0; i < 5; i++) expect((await server.readMessage()).data.length).toBe(chunk.length);
    await expect(fifth).resolves.toBeUndefined();
  });
});
