// The in-process hub over real loopback connections: delivery, order with writeMessage()/nextWriter(),
// exclusion, leaving topics at close, one frame for all, one writev per tick.
import { once } from 'events';
import { createMessageDuplex, Hub, PreparedMessage, type WebSocket } from '../../src';
import { readN, socketOf, startHubServer, tapWrites, waitFor, type HubServer } from '../helpers/fanout';

let server: HubServer;
afterEach(async () => {
  await server?.close();
});

async function openMany(n: number): Promise<Array<{ client: WebSocket; server: WebSocket }>> {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await server.open());
  return out;
}

describe('Hub: delivery', () => {
  test('a publish reaches every subscriber of the topic, and only them', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const pairs = await openMany(4);
    for (const p of pairs.slice(0, 3)) hub.subscribe(p.server, 'room');
    hub.subscribe(pairs[3]!.server, 'other');
    expect(hub.subscriberCount('room')).toBe(3);
    expect(hub.subscriberCount('other')).toBe(1);
    expect(hub.subscriberCount('nobody')).toBe(0);

    expect(hub.publish('room', 'hello')).toBe(3);
    expect(hub.publish('room', Buffer.from([1, 2, 3]))).toBe(3);
    expect(hub.publish('room', 'as binary', { type: 'binary' })).toBe(3);
    expect(hub.publish('nobody', 'lost')).toBe(0);
    // The fourth gets only its own topic's message: if 'room' had reached it, it would come first.
    expect(hub.publish('other', 'yours')).toBe(1);
    for (const p of pairs.slice(0, 3)) {
      expect(await readN(p.client, 3)).toEqual(['hello', 'bin:010203', `bin:${Buffer.from('as binary').toString('hex')}`]);
    }
    expect(await readN(pairs[3]!.client, 1)).toEqual(['yours']);
    expect(hub.stats.published).toBe(5);
    expect(hub.stats.delivered).toBe(10);
  });

  test('subscribe/unsubscribe are idempotent; isSubscribed and topicsOf say where a connection is', async () => {
    server = await startHubServer();
    const hub = new Hub();
    const [a, b] = await openMany(2);
    hub.subscribe(a!.server, 't1');
    hub.subscribe(a!.server, 't1');
    hub.subscribe(a!.server, 't2');
    hub.subscribe(b!.server, 't2');
    expect(hub.subscriberCount('t1')).toBe(1);
    expect(hub.topicsOf(a!.server).sort()).toEqual(['t1', 't2']);
    expect(hub.isSubscribed(a!.server, 't1')).toBe(true);
    expect(hub.isSubscribed(b!.server, 't1')).toBe(false);
    hub.unsubscribe(a!.server, 't1');
    hub.unsubscribe(a!.server, 't1');
    hub.unsubscribe(b!.server, 'never');
    expect(hub.isSubscribed(a!.server, 't1')).toBe(false);
    expect(hub.subscriberCount('t1')).toBe(0);
    expect(hub.topicsOf(a!.server)).toEqual(['t2']);
    expect(hub.publish('t1', 'gone')).toBe(0);
    expect(hub.publish('t2', 'both')).toBe(2);
    expect(await readN(a!.client, 1)).toEqual(['both']);
    await hub.close();
  });

  test('a PreparedMessage is accepted by publish, broadcast, writeMessage, the writable and a message Duplex', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const [a, b] = await openMany(2);
    const prepared = new PreparedMessage('prepared once');
    const bin = new PreparedMessage(Buffer.from('ab'), 'binary');
    hub.subscribe(a!.server, 'x');
    expect(hub.publish('x', prepared)).toBe(1);
    expect(hub.broadcast([a!.server, b!.server], bin)).toBe(2);
    await a!.server.writeMessage(prepared);
    await new Promise<void>((resolve, reject) => a!.server.writable.write(bin, (err) => (err ? reject(err) : resolve())));
    const duplex = createMessageDuplex(a!.server);
    await new Promise<void>((resolve, reject) => duplex.write(prepared, (err) => (err ? reject(err) : resolve())));
    expect(await readN(a!.client, 5)).toEqual(['prepared once', 'bin:6162', 'prepared once', 'bin:6162', 'prepared once']);
    expect(await readN(b!.client, 1)).toEqual(['bin:6162']);
    // The client role frames (and masks) it itself: the server reads it as any message.
    await a!.client.writeMessage(prepared);
    expect(await readN(a!.server, 1)).toEqual(['prepared once']);
  });
});

describe('Hub: order', () => {
  test('publishes and writeMessage() keep the order they were made in, on each connection', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const [a, b] = await openMany(2);
    hub.subscribe(a!.server, 'o');
    hub.subscribe(b!.server, 'o');
    const expected: string[] = [];
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) {
      hub.publish('o', `p${i}`);
      expected.push(`p${i}`);
      writes.push(a!.server.writeMessage(`w${i}`));
      expected.push(`w${i}`);
    }
    await Promise.all(writes);
    expect(await readN(a!.client, 100)).toEqual(expected);
    expect(await readN(b!.client, 50)).toEqual(expected.filter((m) => m.startsWith('p')));
  });

  test('a publish made while a streamed message is being written waits for it to end', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const [a] = await openMany(1);
    hub.subscribe(a!.server, 'o');
    hub.publish('o', 'before');
    const writer = a!.server.nextWriter('text');
    writer.write('part1-');
    expect(hub.publish('o', 'during')).toBe(1);
    const after = a!.server.writeMessage('written-after');
    writer.write('part2');
    writer.end();
    await after;
    expect(await readN(a!.client, 4)).toEqual(['before', 'part1-part2', 'during', 'written-after']);
  });

  test('several publishes in one tick leave a connection in one write to the kernel', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const [a] = await openMany(1);
    hub.subscribe(a!.server, 'b');
    const tap = tapWrites(a!.server);
    for (let i = 0; i < 20; i++) hub.publish('b', `m${i}`);
    const got = readN(a!.client, 20);
    expect(await got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(tap.buffers).toHaveLength(20);
    expect(tap.flushes()).toBe(1);
  });
});

describe('Hub: one frame for all', () => {
  test('every subscriber is handed the very same frame buffer, with the right bytes', async () => {
    server = await startHubServer();
    const hub = server.wss.hub;
    const pairs = await openMany(3);
    const taps = pairs.map((p) => {
      hub.subscribe(p.server, 's');
      return tapWrites(p.server);
    });
    const received = pairs.map((p) => {
      const chunks: Buffer[] = [];
      socketOf(p.client).on('data', (c: Buffer) => chunks.push(c));
      return chunks;
    });
    const payload = 'x'.repeat(300);
    hub.publish('s', payload);
    await Promise.all(pairs.map((p) => readN(p.client, 1)));
    const frame = taps[0]!.buffers[0]!;
    for (const tap of taps) expect(tap.buffers).toEqual([frame]);
    for (const tap of taps) expect(tap.buffers[0]).toBe(frame);
    // FIN + text, 126 then a 16-bit length, no mask, the payload.
    expect(frame.subarray(0, 4)).toEqual(Buffer.from([0x81, 126, 300 >> 8, 300 & 0xff]));
    expect(frame.subarray(4).toString()).toBe(payload);
    for (const chunks of received) expect(Buffer.concat(chunks)).toEqual(frame);
  });
});

describe('Hub: exclusion', () => {
  test('exclude skips the named connection; publishToSelf delivers to it anyway', async () => {
    server = await startHubServer();
    const [a, b] = await openMany(2);
    const hub = new Hub();
    const selfHub = new Hub({ publishToSelf: true });
    for (const h of [hub, selfHub]) {
      h.subscribe(a!.server, 'e');
      h.subscribe(b!.server, 'e');
    }
    expect(hub.publish('e', 'not to a', { exclude: a!.server })).toBe(1);
    expect(hub.broadcast([a!.server, b!.server], 'bcast not to b', { exclude: b!.server })).toBe(1);
    expect(selfHub.publish('e', 'to both', { exclude: a!.server })).toBe(2);
    expect(await readN(a!.client, 2)).toEqual(['bcast not to b', 'to both']);
    expect(await readN(b!.client, 2)).toEqual(['not to a', 'to both']);
    await hub.close();
    await selfHub.close();
  });
});

describe('Hub: leaving at close', () => {
  test('a connection that closes leaves all its topics, in every hub it is in', async () => {
    server = await startHubServer();
    const [a, b] = await openMany(2);
    const h1 = new Hub();
    const h2 = new Hub();
    for (const t of ['t1', 't2', 't3']) h1.subscribe(a!.server, t);
    h2.subscribe(a!.server, 't1');
    h1.subscribe(b!.server, 't1');
    expect(a!.server.listenerCount('close')).toBe(3); // the server's, h1's and h2's: one each, whatever the topics
    const closedOnServer = once(a!.server, 'close');
    await a!.client.close();
    await closedOnServer;
    expect(h1.topicsOf(a!.server)).toEqual([]);
    expect(h2.topicsOf(a!.server)).toEqual([]);
    expect(h1.subscriberCount('t1')).toBe(1);
    expect(h1.subscriberCount('t2')).toBe(0);
    expect(h2.subscriberCount('t1')).toBe(0);
    expect(a!.server.listenerCount('close')).toBe(1); // the hubs removed theirs
    // A closed connection is not subscribed again: it could never leave.
    h1.subscribe(a!.server, 't1');
    expect(h1.isSubscribed(a!.server, 't1')).toBe(false);
    expect(h1.publish('t1', 'still here')).toBe(1);
    expect(await readN(b!.client, 1)).toEqual(['still here']);
    await h1.close();
    await h2.close();
  });

  test('a closing connection is skipped; unsubscribing the last topic removes the close listener', async () => {
    server = await startHubServer();
    const [a, b] = await openMany(2);
    const hub = new Hub();
    hub.subscribe(a!.server, 'c');
    hub.subscribe(b!.server, 'c');
    hub.subscribe(b!.server, 'd');
    const before = b!.server.listenerCount('close');
    hub.unsubscribe(b!.server, 'c');
    expect(b!.server.listenerCount('close')).toBe(before);
    hub.unsubscribe(b!.server, 'd');
    expect(b!.server.listenerCount('close')).toBe(before - 1);
    const closing = a!.server.close(1000);
    expect(a!.server.readyState).toBe('closing');
    expect(hub.publish('c', 'skipped')).toBe(0);
    await closing;
    expect(hub.subscriberCount('c')).toBe(0);
    await hub.close();
  });

  test('close() unsubscribes everyone and refuses later publishes', async () => {
    server = await startHubServer();
    const [a] = await openMany(1);
    const hub = new Hub();
    hub.subscribe(a!.server, 'z');
    const listeners = a!.server.listenerCount('close');
    await hub.close();
    await hub.close();
    expect(a!.server.listenerCount('close')).toBe(listeners - 1);
    expect(hub.subscriberCount('z')).toBe(0);
    expect(() => hub.publish('z', 'no')).toThrow('The hub is closed');
    expect(() => hub.broadcast([a!.server], 'no')).toThrow('The hub is closed');
    expect(() => hub.subscribe(a!.server, 'z')).toThrow('The hub is closed');
  });

  test('WebSocketServer: its own hub is closed with it; a given hub stays open', async () => {
    const given = new Hub();
    server = await startHubServer({ hub: given });
    expect(server.wss.hub).toBe(given);
    const [a] = await openMany(1);
    given.subscribe(a!.server, 'k');
    await server.close();
    await waitFor(() => given.subscriberCount('k') === 0, 'the connection to leave its topic');
    expect(given.publish('k', 'open still')).toBe(0);
    await given.close();
    server = await startHubServer({ hub: { backpressureLimit: 10 } });
    const own = server.wss.hub;
    await server.close();
    expect(() => own.publish('k', 'closed')).toThrow('The hub is closed');
  });
});
