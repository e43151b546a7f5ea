/**
 * What the Redis broker needs from a Redis client library, and the two it knows: node-redis (the
 * `redis` package, v4 and later) and ioredis. Both are recognised by shape, never imported, so
 * wsflow keeps no runtime dependency; the structural types below are the few members we call.
 */

/**
 * A Redis client as `RedisBroker` accepts it: a node-redis client (`createClient()` of the `redis`
 * package, v4 and later) or an ioredis `Redis`, created, configured (URL, AUTH, TLS) and connected by
 * the application. Typed loosely on purpose: the construction checks which one it is.
 */
export interface RedisClientLike {
  duplicate(...args: never[]): unknown;
  publish(...args: never[]): unknown;
}

/** One subscriber connection, as the broker drives it. */
export interface SubscriberConnection {
  /** Connects (with the client's own settings); rejects on failure. */
  connect(): Promise<void>;
  subscribe(channels: string[], sharded: boolean): Promise<void>;
  unsubscribe(channels: string[], sharded: boolean): Promise<void>;
  ping(): Promise<void>;
  /** Whether SPUBLISH is known to the server (asked before the first subscribe). */
  supportsSharded(): Promise<boolean>;
  /** True while the connection can take commands. */
  isReady(): boolean;
  /** Drops the connection at once; safe to call twice. Later errors are absorbed. */
  destroy(): void;
}

/** Calls made on the connection the broker opens, as they come back to it. */
export interface SubscriberEvents {
  message(channel: Buffer, payload: Buffer): void;
  /** The connection failed or closed while it was ready. */
  lost(err: Error): void;
}

/** One client library, behind the calls the broker makes. */
export interface RedisDriver {
  readonly kind: 'node-redis' | 'ioredis';
  /** Whether the application's client can take a command now. */
  clientReady(): boolean;
  publish(channel: string, payload: Buffer, sharded: boolean): Promise<unknown>;
  /** A new, not yet connected subscriber connection with the client's settings and no reconnection of its own. */
  openSubscriber(events: SubscriberEvents): SubscriberConnection;
}

type Listener = (...args: never[]) => void;

/** The members of a node-redis v4/v5 client that are used. */
interface NodeRedisClient {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  readonly options?: { socket?: Record<string, unknown> };
  duplicate(overrides?: Record<string, unknown>): NodeRedisClient;
  connect(): Promise<unknown>;
  destroy(): void;
  sendCommand(args: string[]): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  sPublish(channel: string, message: Buffer): Promise<unknown>;
  subscribe(channels: string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  unsubscribe(channels: string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  sSubscribe(channels: string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  sUnsubscribe(channels: string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>;
  on(event: string, listener: Listener): unknown;
}

/** The members of an ioredis v5 `Redis` that are used. */
interface IoRedisClient {
  readonly status: string;
  duplicate(overrides?: Record<string, unknown>): IoRedisClient;
  connect(): Promise<unknown>;
  disconnect(): void;
  call(command: string, ...args: string[]): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  spublish(channel: string, message: Buffer): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
  sunsubscribe(...channels: string[]): Promise<unknown>;
  ping(): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
}

function isFunction(value: unknown): boolean {
  return typeof value === 'function';
}

function isNodeRedis(c: Record<string, unknown>): boolean {
  return (
    typeof c.isReady === 'boolean' &&
    typeof c.isOpen === 'boolean' &&
    isFunction(c.sendCommand) &&
    isFunction(c.sSubscribe) &&
    isFunction(c.sPublish) &&
    isFunction(c.connect)
  );
}

function isIoRedis(c: Record<string, unknown>): boolean {
  return (
    typeof c.status === 'string' &&
    isFunction(c.call) &&
    isFunction(c.ssubscribe) &&
    isFunction(c.spublish) &&
    isFunction(c.disconnect)
  );
}

/** Anything the answer to `COMMAND INFO SPUBLISH` can be: an entry (known) or a nil (unknown command). */
function describesCommand(reply: unknown): boolean {
  return Array.isArray(reply) && reply.length > 0 && reply[0] !== null && reply[0] !== undefined;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Picks the driver for `client`, or throws the construction error the broker reports: a TypeError
 * for something that is not a client we know, an Error for one that is not connected.
 */
export function driverFor(client: unknown): RedisDriver {
  if (typeof client !== 'object' || client === null || !isFunction((client as { duplicate?: unknown }).duplicate)) {
    throw new TypeError('RedisBroker: `client` must be a node-redis client (createClient() of the redis package) or an ioredis Redis');
  }
  const c = client as Record<string, unknown>;
  if (isNodeRedis(c)) {
    const nr = client as NodeRedisClient;
    if (!nr.isReady) {
      throw new Error('RedisBroker: the node-redis client is not connected (await client.connect() first)');
    }
    return new NodeRedisDriver(nr);
  }
  if (isIoRedis(c)) {
    const io = client as IoRedisClient;
    if (io.status !== 'ready') {
      throw new Error(`RedisBroker: the ioredis client is not ready (status '${io.status}'; wait for its 'ready' event)`);
    }
    return new IoRedisDriver(io);
  }
  throw new TypeError(
    'RedisBroker: `client` is not a node-redis (v4 or later) or ioredis (v5) client (a cluster client is not supported)',
  );
}

class NodeRedisDriver implements RedisDriver {
  readonly kind = 'node-redis';
  constructor(private readonly client: NodeRedisClient) {}

  clientReady(): boolean {
    return this.client.isReady;
  }

  publish(channel: string, payload: Buffer, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.sPublish(channel, payload) : this.client.publish(channel, payload);
  }

  openSubscriber(events: SubscriberEvents): SubscriberConnection {
    // Our own reconnection, not the library's: a lost connection is replaced by a fresh one on which
    // the broker issues every subscription itself (node-redis #2155, #2823: resubscription lost).
    const socket = { ...(this.client.options?.socket ?? {}), reconnectStrategy: false };
    const sub = this.client.duplicate({ socket, disableOfflineQueue: true });
    return new NodeRedisSubscriber(sub, events);
  }
}

class NodeRedisSubscriber implements SubscriberConnection {
  private destroyed = false;
  private wasReady = false;
  private readonly listener: (message: Buffer, channel: Buffer) => void;

  constructor(
    private readonly sub: NodeRedisClient,
    private readonly events: SubscriberEvents,
  ) {
    this.listener = (message, channel) => events.message(channel, message);
    // Always listened to: node-redis emits 'error' for every socket error, and an EventEmitter
    // without an 'error' listener throws. Stays attached after destroy() to absorb late ones.
    sub.on('error', ((err: unknown) => this.onError(asError(err))) as Listener);
    sub.on('end', (() => this.onError(new Error('Redis subscriber connection closed'))) as Listener);
  }

  private onError(err: Error): void {
    if (this.destroyed || !this.wasReady || this.sub.isReady) return;
    this.wasReady = false;
    this.events.lost(err);
  }

  async connect(): Promise<void> {
    await this.sub.connect();
    this.wasReady = true;
  }

  async supportsSharded(): Promise<boolean> {
    try {
      return describesCommand(await this.sub.sendCommand(['COMMAND', 'INFO', 'SPUBLISH']));
    } catch {
      // No right to COMMAND (ACL) or a server without it: plain PUBLISH works everywhere.
      return false;
    }
  }

  async subscribe(channels: string[], sharded: boolean): Promise<void> {
    if (channels.length === 0) return;
    if (!sharded) return this.sub.subscribe(channels, this.listener, true);
    // One SSUBSCRIBE per channel: on a cluster, channels of different slots cannot share one.
    await Promise.all(channels.map((c) => this.sub.sSubscribe([c], this.listener, true)));
  }

  async unsubscribe(channels: string[], sharded: boolean): Promise<void> {
    if (channels.length === 0) return;
    if (!sharded) return this.sub.unsubscribe(channels, this.listener, true);
    await Promise.all(channels.map((c) => this.sub.sUnsubscribe([c], this.listener, true)));
  }

  async ping(): Promise<void> {
    await this.sub.sendCommand(['PING']);
  }

  isReady(): boolean {
    return !this.destroyed && this.sub.isReady;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.sub.isOpen) this.sub.destroy();
  }
}

class IoRedisDriver implements RedisDriver {
  readonly kind = 'ioredis';
  constructor(private readonly client: IoRedisClient) {}

  clientReady(): boolean {
    return this.client.status === 'ready';
  }

  publish(channel: string, payload: Buffer, sharded: boolean): Promise<unknown> {
    return sharded ? this.client.spublish(channel, payload) : this.client.publish(channel, payload);
  }

  openSubscriber(events: SubscriberEvents): SubscriberConnection {
    const sub = this.client.duplicate({
      lazyConnect: true,
      // As for node-redis: no reconnection, no resubscription, no queueing of our own.
      retryStrategy: () => null,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableOfflineQueue: false,
      reconnectOnError: null,
      // A subscriber connection has nothing to flush: drop it at once rather than keep a 2 s timer
      // for a stream that may already be gone.
      disconnectTimeout: 0,
    });
    return new IoRedisSubscriber(sub, events);
  }
}

class IoRedisSubscriber implements SubscriberConnection {
  private destroyed = false;
  private wasReady = false;

  constructor(
    private readonly sub: IoRedisClient,
    private readonly events: SubscriberEvents,
  ) {
    const onMessage = ((channel: Buffer, message: Buffer) => events.message(channel, message)) as Listener;
    sub.on('messageBuffer', onMessage);
    sub.on('smessageBuffer', onMessage);
    sub.on('error', ((err: unknown) => this.onError(asError(err))) as Listener);
    sub.on('close', (() => this.onError(new Error('Redis subscriber connection closed'))) as Listener);
  }

  private onError(err: Error): void {
    if (this.destroyed || !this.wasReady || this.sub.status === 'ready') return;
    this.wasReady = false;
    this.events.lost(err);
  }

  async connect(): Promise<void> {
    await this.sub.connect();
    this.wasReady = true;
  }

  async supportsSharded(): Promise<boolean> {
    try {
      return describesCommand(await this.sub.call('COMMAND', 'INFO', 'SPUBLISH'));
    } catch {
      return false;
    }
  }

  async subscribe(channels: string[], sharded: boolean): Promise<void> {
    if (channels.length === 0) return;
    if (!sharded) {
      await this.sub.subscribe(...channels);
      return;
    }
    await Promise.all(channels.map((c) => this.sub.ssubscribe(c)));
  }

  async unsubscribe(channels: string[], sharded: boolean): Promise<void> {
    if (channels.length === 0) return;
    if (!sharded) {
      await this.sub.unsubscribe(...channels);
      return;
    }
    await Promise.all(channels.map((c) => this.sub.sunsubscribe(c)));
  }

  async ping(): Promise<void> {
    await this.sub.ping();
  }

  isReady(): boolean {
    return !this.destroyed && this.sub.status === 'ready';
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sub.disconnect();
  }
}
