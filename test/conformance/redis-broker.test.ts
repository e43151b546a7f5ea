// RedisBroker against a real redis-server (started here, loopback, throw-away): sharded and plain
// pub/sub, binary payloads, prefixes, the subscriber connection's lifecycle, node-redis and ioredis,
// an ACL user with only the documented rights, and the faults: Redis stopped, frozen (SIGSTOP) and
// restarted mid-stream.
import IORedis from 'ioredis';
import { createClient } from 'redis';
import { RedisBroker } from '../../src/brokers/redis';
import { describePeer } from '../interop/helpers';
import { BrokerRecorder, publishUntilReceived, WAIT } from '../helpers/redis-broker';
import { hasRedisServer, RedisServer, stopAllRedisServers } from '../helpers/redis-server';

jest.setTimeout(60_000);

type NodeRedis = ReturnType<typeof createClient>;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});
afterAll(stopAllRedisServers);

// Nothing the broker does may end in an unhandled rejection, whatever Redis does.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => expect(unhandled.splice(0)).toEqual([]));

async function nodeRedis(url: string): Promise<NodeRedis> {
  // The application's client: its errors are the application's to log; reconnect fast for the tests.
  const client = createClient({ url, socket: { reconnectStrategy: (retries: number) => Math.min(50 * (retries + 1), 500) } });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(() => (client.isOpen ? client.destroy() : undefined));
  return client;
}

function broker(options: ConstructorParameters<typeof RedisBroker>[0]): { broker: RedisBroker; rec: BrokerRecorder } {
  const b = new RedisBroker(options);
  cleanups.push(() => b.close());
  return { broker: b, rec: new BrokerRecorder(b) };
}

/** Parses a RESP reply of PUBSUB (SHARD)NUMSUB into { channel: count }. */
function numsub(reply: string): Record<string, number> {
  const parts = reply.split('\r\n').filter((l) => l !== '' && !l.startsWith('*') && !l.startsWith('$'));
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) out[parts[i] as string] = Number((parts[i + 1] as string).replace(':', ''));
  return out;
}

/** Connections of the server that hold at least one subscription (CLIENT LIST's sub/ssub fields). */
async function subscriberConnections(server: RedisServer): Promise<number> {
  const list = await server.command('CLIENT', 'LIST');
  return list.split('\n').filter((l) => /\b(sub|ssub)=[1-9]/.test(l)).length;
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = WAIT): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function everyByte(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

describePeer('RedisBroker (redis-server)', hasRedisServer(), () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });

  describe.each([
    ['sharded (detected)', undefined, true],
    ['plain', false, false],
  ] as const)('%s pub/sub', (_name, sharded, expected) => {
    test('delivers between processes-to-be and to itself, binary-safe', async () => {
      const a = broker({ client: await nodeRedis(server.url), sharded });
      const b = broker({ client: await nodeRedis(server.url), sharded });
      await Promise.all([a.broker.subscribe('room'), b.broker.subscribe('room')]);
      expect(a.broker.sharded).toBe(expected);
      expect(a.broker.state).toBe('up');
      const reply = await server.command('PUBSUB', expected ? 'SHARDNUMSUB' : 'NUMSUB', 'wsflow:room');
      expect(numsub(reply)).toEqual({ 'wsflow:room': 2 });

      const binary = everyByte(70_000);
      await a.broker.publish('room', binary);
      await b.broker.publish('room', Buffer.from('from b'));
      for (const r of [a.rec, b.rec]) {
        await r.until(() => r.messages.length === 2, 'both messages');
        expect(r.messages[0]?.channel).toBe('room');
        expect(r.messages[0]?.payload.equals(binary)).toBe(true);
        expect(r.texts()[1]).toBe('from b');
      }
      // Topics are any UTF-8; the prefix is stripped on the way back.
      await a.broker.subscribe('salon/été ✓');
      await b.broker.publish('salon/été ✓', Buffer.from([0, 255, 0]));
      await a.rec.until(() => a.rec.messages.length === 3, 'utf-8 topic');
      expect(a.rec.messages[2]).toEqual({ channel: 'salon/été ✓', payload: Buffer.from([0, 255, 0]) });
    });

    test('foreign bytes published straight into the channel reach the handler as they are, nothing breaks', async () => {
      const a = broker({ client: await nodeRedis(server.url), sharded });
      await a.broker.subscribe('news');
      await server.command(expected ? 'SPUBLISH' : 'PUBLISH', 'wsflow:news', Buffer.from('\x00not an envelope\xff', 'latin1'));
      await server.command(expected ? 'SPUBLISH' : 'PUBLISH', 'wsflow:news', '');
      await a.broker.publish('news', Buffer.from('after'));
      await a.rec.until(() => a.rec.messages.length === 3, 'three messages');
      expect(a.rec.messages.map((m) => m.payload.toString('latin1'))).toEqual(['\x00not an envelope\xff', '', 'after']);
      expect(a.broker.state).toBe('up');
    });

    test('unsubscribe stops delivery; subscribe is idempotent', async () => {
      const a = broker({ client: await nodeRedis(server.url), sharded });
      await a.broker.subscribe('one');
      await a.broker.subscribe('one');
      await a.broker.subscribe('two');
      const count = expected ? 'SHARDNUMSUB' : 'NUMSUB';
      expect(numsub(await server.command('PUBSUB', count, 'wsflow:one', 'wsflow:two'))).toEqual({ 'wsflow:one': 1, 'wsflow:two': 1 });
      await a.broker.publish('one', Buffer.from('1'));
      await a.rec.until(() => a.rec.messages.length === 1, 'first');
      await a.broker.unsubscribe('one');
      await a.broker.unsubscribe('one');
      expect(numsub(await server.command('PUBSUB', count, 'wsflow:one', 'wsflow:two'))).toEqual({ 'wsflow:one': 0, 'wsflow:two': 1 });
      await a.broker.publish('one', Buffer.from('lost'));
      await a.broker.publish('two', Buffer.from('2'));
      // Messages on one connection arrive in order: once '2' is here, 'lost' would have been too.
      await a.rec.until(() => a.rec.texts().includes('2'), 'second');
      expect(a.rec.texts()).toEqual(['1', '2']);
    });
  });

  test('prefixes isolate applications sharing one Redis', async () => {
    const a = broker({ client: await nodeRedis(server.url), prefix: 'app-a:' });
    const b = broker({ client: await nodeRedis(server.url), prefix: 'app-b:' });
    const c = broker({ client: await nodeRedis(server.url), prefix: '' });
    await Promise.all([a.broker.subscribe('room'), b.broker.subscribe('room'), c.broker.subscribe('app-a:room')]);
    await a.broker.publish('room', Buffer.from('for a'));
    await b.broker.publish('room', Buffer.from('for b'));
    await a.rec.until(() => a.rec.messages.length === 1, 'a');
    await b.rec.until(() => b.rec.messages.length === 1, 'b');
    // The empty prefix sees app-a's channel under its full name.
    await c.rec.until(() => c.rec.messages.length === 1, 'c');
    expect([a.rec.texts(), b.rec.texts(), c.rec.texts(), c.rec.messages[0]?.channel]).toEqual([['for a'], ['for b'], ['for a'], 'app-a:room']);
  });

  test('one duplicate() connection, closed by close(); the given client is left alone; close() is idempotent', async () => {
    const client = await nodeRedis(server.url);
    const errorListeners = client.listenerCount('error');
    const before = await subscriberConnections(server);
    const a = broker({ client });
    await a.broker.subscribe('x');
    await a.broker.subscribe('y');
    expect(await subscriberConnections(server)).toBe(before + 1);
    await Promise.all([a.broker.close(), a.broker.close()]);
    await a.broker.close();
    expect(a.broker.state).toBe('closed');
    await until(async () => (await subscriberConnections(server)) === before, 'subscriber connection closed');
    expect(client.isReady).toBe(true);
    expect(await client.ping()).toBe('PONG');
    expect(client.listenerCount('error')).toBe(errorListeners);
    await expect(a.broker.publish('x', Buffer.from('late'))).rejects.toThrow(/closed/);
    await expect(a.broker.subscribe('z')).rejects.toThrow(/closed/);
    await a.broker.unsubscribe('x');
    expect(a.rec.statuses).toEqual([]);
  });

  test('close() right after construction drops the connection being opened', async () => {
    const before = await subscriberConnections(server);
    const a = broker({ client: await nodeRedis(server.url) });
    void a.broker.subscribe('early').catch(() => undefined);
    await a.broker.close();
    await until(async () => (await subscriberConnections(server)) === before, 'no subscriber left');
    const list = await server.command('CLIENT', 'LIST');
    // Only the test's own clients remain: no connection of the broker's is left open.
    expect(list.split('\n').filter((l) => l.includes('cmd=') && /sub=[1-9]|ssub=[1-9]/.test(l))).toEqual([]);
  });

  test('ioredis: sharded and plain delivery, binary-safe', async () => {
    for (const sharded of [undefined, false]) {
      const io = new IORedis(server.url, { lazyConnect: true });
      io.on('error', () => undefined);
      await io.connect();
      cleanups.push(() => io.disconnect());
      const a = broker({ client: io, sharded });
      expect(a.broker.clientKind).toBe('ioredis');
      await a.broker.subscribe('io');
      expect(a.broker.sharded).toBe(sharded ?? true);
      const binary = everyByte(1000);
      await a.broker.publish('io', binary);
      await a.rec.until(() => a.rec.messages.length === 1, 'ioredis message');
      expect(a.rec.messages[0]?.payload.equals(binary)).toBe(true);
      await a.broker.close();
    }
  });
});

describePeer('RedisBroker faults (redis-server stopped, frozen, restarted)', hasRedisServer(), () => {
  let server: RedisServer;
  beforeEach(async () => {
    server = await RedisServer.start();
    cleanups.push(() => server.dispose());
  });

  test('stopped then restarted mid-stream: one down, publishes rejected meanwhile, every channel re-subscribed, then up', async () => {
    const pub = broker({ client: await nodeRedis(server.url), timeout: 2000 });
    const sub = broker({ client: await nodeRedis(server.url), timeout: 2000 });
    await Promise.all([sub.broker.subscribe('a'), sub.broker.subscribe('b'), pub.broker.subscribe('p')]);
    await pub.broker.publish('a', Buffer.from('before'));
    await sub.rec.until(() => sub.rec.texts('a').includes('before'), 'before');

    await server.stop();
    await sub.rec.until(() => sub.rec.statusList().includes('down'), 'down');
    expect(sub.rec.statuses[0]?.err).toBeInstanceOf(Error);
    await expect(pub.broker.publish('a', Buffer.from('while down'))).rejects.toThrow();
    // Subscriptions changed while Redis is away are applied when it is back.
    await sub.broker.subscribe('c');
    await sub.broker.unsubscribe('b');

    await server.restart();
    await sub.rec.until(() => sub.rec.statusList().includes('up'), 'up');
    await pub.rec.until(() => pub.rec.statusList().includes('up'), 'publisher up');
    expect(sub.rec.statusList()).toEqual(['down', 'up']);
    // Re-subscribed by the broker itself, once: a fresh server knows only what was issued again.
    expect(numsub(await server.command('PUBSUB', 'SHARDNUMSUB', 'wsflow:a', 'wsflow:b', 'wsflow:c', 'wsflow:p'))).toEqual({
      'wsflow:a': 1,
      'wsflow:b': 0,
      'wsflow:c': 1,
      'wsflow:p': 1,
    });
    expect(await subscriberConnections(server)).toBe(2);
    await publishUntilReceived(pub.broker, sub.rec, 'a', 'after a');
    await publishUntilReceived(pub.broker, sub.rec, 'c', 'after c');
    expect(sub.rec.texts('a')).not.toContain('while down');
  });

  test('frozen (SIGSTOP): down after the timeout, a stuck publish rejects; SIGCONT: up, delivery resumes', async () => {
    const a = broker({ client: await nodeRedis(server.url), timeout: 1500 });
    await a.broker.subscribe('t');
    server.pause();
    try {
      await expect(a.broker.publish('t', Buffer.from('stuck'))).rejects.toThrow(/within 1500 ms/);
      await a.rec.until(() => a.rec.statusList().includes('down'), 'down');
      expect(a.rec.statuses[0]?.err?.message).toMatch(/PING|within|not connected/);
      await a.broker.subscribe('u');
    } finally {
      server.resume();
    }
    await a.rec.until(() => a.rec.statusList().includes('up'), 'up');
    expect(a.rec.statusList()).toEqual(['down', 'up']);
    await publishUntilReceived(a.broker, a.rec, 'u', 'resumed');
    expect(await subscriberConnections(server)).toBe(1);
  });

  test('repeated restarts: statuses alternate down/up, one subscriber connection, delivery each time', async () => {
    const a = broker({ client: await nodeRedis(server.url), timeout: 2000 });
    await a.broker.subscribe('r');
    for (let round = 1; round <= 3; round++) {
      await server.stop();
      await a.rec.until(() => a.rec.statusList().length === 2 * round - 1, `down #${round}`);
      await server.restart();
      await a.rec.until(() => a.rec.statusList().length === 2 * round, `up #${round}`);
      await publishUntilReceived(a.broker, a.rec, 'r', `round ${round}`);
    }
    expect(a.rec.statusList()).toEqual(['down', 'up', 'down', 'up', 'down', 'up']);
    expect(await subscriberConnections(server)).toBe(1);
  });

  test('its connection killed by Redis (CLIENT KILL TYPE pubsub, as the pubsub output-buffer limit does): replaced, re-subscribed', async () => {
    const a = broker({ client: await nodeRedis(server.url), timeout: 2000 });
    await a.broker.subscribe('k');
    expect(await server.command('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(':1\r\n');
    await a.rec.until(() => a.rec.statusList().length === 2, 'down and up');
    expect(a.rec.statusList()).toEqual(['down', 'up']);
    await publishUntilReceived(a.broker, a.rec, 'k', 'after kill');
    expect(await subscriberConnections(server)).toBe(1);
  });

  test('ioredis: stopped and restarted, re-subscribed, up', async () => {
    const io = new IORedis(server.url, { lazyConnect: true, retryStrategy: () => 50 });
    io.on('error', () => undefined);
    await io.connect();
    cleanups.push(() => io.disconnect());
    const a = broker({ client: io, timeout: 2000 });
    await a.broker.subscribe('io');
    await server.stop();
    await a.rec.until(() => a.rec.statusList().includes('down'), 'down');
    await server.restart();
    await a.rec.until(() => a.rec.statusList().includes('up'), 'up');
    await publishUntilReceived(a.broker, a.rec, 'io', 'back');
    expect(await subscriberConnections(server)).toBe(1);
  });
});

// The rights docs/guide.md lists, and nothing else.
const ACL_USER =
  'user wsflow on >s3cret resetchannels &wsflow:* resetkeys -@all ' +
  '+publish +spublish +subscribe +ssubscribe +unsubscribe +sunsubscribe +ping +command|info';

describePeer('RedisBroker with an ACL user holding only the documented rights', hasRedisServer(), () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ config: [ACL_USER] });
  });

  test('works within its channels; a prefix outside them is refused by Redis, as a rejection', async () => {
    const url = `redis://wsflow:s3cret@127.0.0.1:${server.port}`;
    const a = broker({ client: await nodeRedis(url), timeout: 2000 });
    await a.broker.subscribe('room');
    expect(a.broker.sharded).toBe(true);
    await a.broker.publish('room', Buffer.from('allowed'));
    await a.rec.until(() => a.rec.messages.length === 1, 'allowed message');
    await a.broker.unsubscribe('room');
    expect(numsub(await server.command('PUBSUB', 'SHARDNUMSUB', 'wsflow:room'))).toEqual({ 'wsflow:room': 0 });
    const plain = broker({ client: await nodeRedis(url), sharded: false, timeout: 2000 });
    await plain.broker.subscribe('plain');
    await plain.broker.publish('plain', Buffer.from('plain too'));
    await plain.rec.until(() => plain.rec.texts().includes('plain too'), 'plain message');
    await plain.broker.unsubscribe('plain');

    const outside = broker({ client: await nodeRedis(url), prefix: 'other:', timeout: 2000 });
    await expect(outside.broker.publish('room', Buffer.from('no'))).rejects.toThrow(/NOPERM|permission/i);
    expect(a.rec.statuses).toEqual([]);
  });
});
