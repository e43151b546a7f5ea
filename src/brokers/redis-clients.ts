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

/**
 * The broker's side of a subscriber connection, once for both libraries: loss detection (reported once,
 * only for a connection that was ready and not destroyed by us), detection of sharded pub/sub, and one
 * SSUBSCRIBE per channel. Subclasses supply the library calls.
 */
abstract class Subscriber implements SubscriberConnection {
  private destroyed = false;
  private wasReady = false;

  constructor(private readonly events: SubscriberEvents) {}

  /** The library says the connection takes commands. */
  protected abstract libraryReady(): boolean;
  protected abstract open(): Promise<unknown>;
  protected abstract drop(): void;
  protected abstract command(args: string[]): Promise<unknown>;
  /** (S)SUBSCRIBE or (S)UNSUBSCRIBE the channels. */
  protected abstract send(subscribe: boolean, sharded: boolean, channels: string[]): Promise<unknown>;

  protected received(channel: Buffer, payload: Buffer): void {
    this.events.message(channel, payload);
  }

  protected failed(err: unknown): void {
    if (this.destroyed || !this.wasReady || this.libraryReady()) return;
    this.wasReady = false;
    this.events.lost(asError(err));
  }

  async connect(): Promise<void> {
    await this.open();
    this.wasReady = true;
  }

  async supportsSharded(): Promise<boolean> {
    try {
      return describesCommand(await this.command(['COMMAND', 'INFO', 'SPUBLISH']));
    } catch {
      // No right to COMMAND (ACL) or a server without it: plain PUBLISH works everywhere.
      return false;
    }
  }

  subscribe(channels: string[], sharded: boolean): Promise<void> {
    return this.sendAll(true, channels, sharded);
  }

  unsubscribe(channels: string[], sharded: boolean): Promise<void> {
    return this.sendAll(false, channels, sharded);
  }

  private async sendAll(subscribe: boolean, channels: string[], sharded: boolean): Promise<void> {
    if (channels.length === 0) return;
    if (!sharded) await this.send(subscribe, false, channels);
    // One SSUBSCRIBE per channel: on a cluster, channels of different slots cannot share one.
    else await Promise.all(channels.map((c) => this.send(subscribe, true, [c])));
  }

  async ping(): Promise<void> {
    await this.command(['PING']);
  }

  isReady(): boolean {
    return !this.destroyed && this.libraryReady();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.drop();
  }
}

class NodeRedisSubscriber extends Subscriber {
  private readonly listener = (message: Buffer, channel: Buffer): void => this.received(channel, message);

  constructor(
    private readonly sub: NodeRedisClient,
    events: SubscriberEvents,
  ) {
    super(events);
    // Always listened to: node-redis emits 'error' for every socket error, and an EventEmitter
    // without an 'error' listener throws. Stays attached after destroy() to absorb late ones.
    sub.on('error', ((err: unknown) => this.failed(err)) as Listener);
    sub.on('end', (() => this.failed(new Error('Redis subscriber connection closed'))) as Listener);
  }

  protected libraryReady(): boolean {
    return this.sub.isReady;
  }

  protected open(): Promise<unknown> {
    return this.sub.connect();
  }

  protected drop(): void {
    if (this.sub.isOpen) this.sub.destroy();
  }

  protected command(args: string[]): Promise<unknown> {
    return this.sub.sendCommand(args);
  }

  protected send(subscribe: boolean, sharded: boolean, channels: string[]): Promise<void> {
    // Buffer mode (the `true`): payloads and channel names arrive as Buffers, binary-safe.
    if (sharded) {
      return subscribe ? this.sub.sSubscribe(channels, this.listener, true) : this.sub.sUnsubscribe(channels, this.listener, true);
    }
    return subscribe ? this.sub.subscribe(channels, this.listener, true) : this.sub.unsubscribe(channels, this.listener, true);
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

class IoRedisSubscriber extends Subscriber {
  constructor(
    private readonly sub: IoRedisClient,
    events: SubscriberEvents,
  ) {
    super(events);
    const onMessage = ((channel: Buffer, message: Buffer) => this.received(channel, message)) as Listener;
    sub.on('messageBuffer', onMessage);
    sub.on('smessageBuffer', onMessage);
    sub.on('error', ((err: unknown) => this.failed(err)) as Listener);
    sub.on('close', (() => this.failed(new Error('Redis subscriber connection closed'))) as Listener);
  }

  protected libraryReady(): boolean {
    return this.sub.status === 'ready';
  }

  protected open(): Promise<unknown> {
    return this.sub.connect();
  }

  protected drop(): void {
    this.sub.disconnect();
  }

  protected command(args: string[]): Promise<unknown> {
    return this.sub.call(args[0] as string, ...args.slice(1));
  }

  protected send(subscribe: boolean, sharded: boolean, channels: string[]): Promise<unknown> {
    if (sharded) return subscribe ? this.sub.ssubscribe(...channels) : this.sub.sunsubscribe(...channels);
    return subscribe ? this.sub.subscribe(...channels) : this.sub.unsubscribe(...channels);
  }
}
