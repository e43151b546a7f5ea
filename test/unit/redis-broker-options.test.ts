// RedisBroker's construction checks: a bad client or option is an error at `new`, never on the first
// publish. No server is needed: an unconnected node-redis or ioredis client never opens a socket.
import IORedis from 'ioredis';
import { createClient } from 'redis';
import { RedisBroker, type RedisBrokerOptions } from '../../src/brokers/redis';

function make(options: unknown): RedisBroker {
  return new RedisBroker(options as RedisBrokerOptions);
}

describe('client', () => {
  test.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'redis://127.0.0.1:6379'],
    ['an empty object', {}],
    ['an object with a duplicate() but nothing else', { duplicate: () => ({}), publish: () => 1 }],
    ['a Map', new Map()],
  ])('%s is a TypeError', (_name, client) => {
    expect(() => make({ client })).toThrow(TypeError);
    expect(() => make({ client })).toThrow(/node-redis|ioredis/);
  });

  test('options that are not an object are a TypeError', () => {
    expect(() => make(undefined)).toThrow(TypeError);
    expect(() => make('redis://x')).toThrow(TypeError);
  });

  test('a node-redis client that is not connected is an Error naming the fix', () => {
    const client = createClient({ url: 'redis://127.0.0.1:1' });
    expect(client.isOpen).toBe(false);
    expect(() => new RedisBroker({ client })).toThrow(/not connected.*connect\(\)/);
    expect(client.isOpen).toBe(false);
  });

  test('an ioredis client that is not ready is an Error', () => {
    const client = new IORedis('redis://127.0.0.1:1', { lazyConnect: true });
    expect(() => new RedisBroker({ client })).toThrow(/ioredis client is not ready/);
    expect(client.status).toBe('wait');
  });
});

describe('prefix, sharded, timeout', () => {
  // Checked before the client, so a placeholder client is enough to reach them.
  const client = createClient();
  test.each(['*', 'app:*', 'a?', 'a[b]', 'room]', 'back\\slash', 'with space', 'tab\t', 'nl\n', 'nul\0', 'del\x7f'])(
    'prefix %j is refused',
    (prefix) => {
      expect(() => new RedisBroker({ client, prefix })).toThrow(TypeError);
      expect(() => new RedisBroker({ client, prefix })).toThrow(/prefix/);
    },
  );

  test('a prefix longer than 256 bytes, or not a string, is refused', () => {
    expect(() => new RedisBroker({ client, prefix: 'é'.repeat(129) })).toThrow(/256 bytes/);
    expect(() => make({ client, prefix: 42 })).toThrow(TypeError);
  });

  test.each(['', 'wsflow:', 'app-1/v2:', 'été:', '{shard}:'])('prefix %j passes the prefix check', (prefix) => {
    // Passes the prefix check and fails on the client (not connected), which comes after.
    expect(() => new RedisBroker({ client, prefix })).toThrow(/not connected/);
  });

  test.each([['yes'], [1], [null]])('sharded %j is a TypeError', (sharded) => {
    expect(() => make({ client, sharded })).toThrow(/sharded/);
  });

  test.each([[0], [5], [-1], [Infinity], [NaN], ['100'], [2 ** 31]])('timeout %j is a TypeError', (timeout) => {
    expect(() => make({ client, timeout })).toThrow(/timeout/);
  });
});
