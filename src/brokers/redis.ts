/**
 * `wsflow/redis`: a {@link Broker} on Redis pub/sub, so a Hub's publishes reach the hubs of other
 * processes and hosts. It uses only the client the application gives it (node-redis or ioredis), for
 * publishing, and one subscriber connection of its own made with `client.duplicate()`.
 *
 * The subscriber connection is ours to keep alive: the library's own reconnection is turned off, a
 * PING every `timeout` tells a silent server (SIGSTOP, a dead route) from a quiet one, and after a
 * loss a fresh connection is opened on which the broker subscribes every current channel itself before
 * reporting 'up'. So a reconnect can never leave channels unsubscribed without a signal (node-redis
 * #2155/#2823, socket.io #4845), and no double subscription can happen behind our back.
 */

import type { Broker, BrokerStatus } from './broker';
import { driverFor } from './redis-clients';
import type { RedisClientLike, RedisDriver, SubscriberConnection } from './redis-clients';

export type { RedisClientLike } from './redis-clients';

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /**
   * A connected node-redis (v4 or later) or ioredis client, configured by the application (URL, AUTH,
   * ACL user, TLS with `rediss://`). Used for PUBLISH and duplicated once for subscribing; never closed
   * by the broker.
   */
  client: RedisClientLike;
  /** Prepended to every channel name. Default `'wsflow:'`. No glob characters (`*?[]\`), spaces or control bytes. */
  prefix?: string;
  /**
   * true: SPUBLISH/SSUBSCRIBE (Redis 7 and later; scales on Redis Cluster); false: PUBLISH/SUBSCRIBE.
   * Default: sharded when the server knows SPUBLISH (asked once with `COMMAND INFO`). Every process
   * sharing the channels must use the same mode.
   */
  sharded?: boolean;
  /**
   * How long (ms) a publish, a connection attempt or a health-check PING may wait for Redis before it
   * fails. The subscriber connection is PINGed every `timeout / 2` ms, at most 500. Default 5000.
   */
  timeout?: number;
}

/** The prefix used when none is given. */
export const DEFAULT_REDIS_PREFIX = 'wsflow:';
/** The `timeout` used when none is given (ms). */
export const DEFAULT_REDIS_TIMEOUT = 5000;

const MAX_PREFIX_BYTES = 256;
const RETRY_MIN = 100;
const RETRY_MAX = 2000;
/** Health checks run at least this often (ms), so 'up' follows the client's own reconnection closely. */
const TICK_MAX = 500;
// Glob syntax would make the prefix mean something else in an ACL channel pattern (&prefix*) or a
// PSUBSCRIBE; spaces and control bytes would break ACL rules and log lines.
const UNSAFE_PREFIX = /[*?[\]\\\s\x00-\x1f\x7f]/;

type State = 'connecting' | 'up' | 'down' | 'closed';

interface PendingPublish {
  deadline: number;
  reject: (err: Error) => void;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function noop(): void {}

/**
 * A {@link Broker} on Redis pub/sub. `new RedisBroker({ client })` with a connected node-redis or
 * ioredis client; give it to a Hub as `broker`.
 */
export class RedisBroker implements Broker {
  readonly #driver: RedisDriver;
  readonly #prefix: string;
  readonly #prefixBytes: Buffer;
  readonly #timeout: number;
  #sharded: boolean | undefined;
  /** The channels (without prefix) the hub wants: the truth every new connection is brought to. */
  readonly #channels = new Set<string>();
  #sub: SubscriberConnection | undefined;
  /** The connection of the attempt in flight, until it is up or dropped. */
  #opening: SubscriberConnection | undefined;
  #state: State = 'connecting';
  /** 'down' was reported and 'up' not yet. */
  #down = false;
  #onMessage: (channel: string, payload: Buffer) => void = noop;
  #onStatus: (status: BrokerStatus, err?: Error) => void = noop;
  #firstAttempt: Promise<void>;
  #retryDelay = RETRY_MIN;
  #retryTimer: NodeJS.Timeout | undefined;
  #tick: NodeJS.Timeout | undefined;
  #pingSentAt = 0;
  #tickMs: number;
  #lastCheck: number;
  readonly #pending = new Set<PendingPublish>();

  /**
   * Throws a `TypeError` for a `client` that is not a node-redis or ioredis client, or for a bad
   * `prefix`/`timeout`, and an `Error` for a client that is not connected.
   */
  constructor(options: RedisBrokerOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('RedisBroker: options must be an object');
    const { client, prefix = DEFAULT_REDIS_PREFIX, sharded, timeout = DEFAULT_REDIS_TIMEOUT } = options;
    if (typeof prefix !== 'string') throw new TypeError('RedisBroker: `prefix` must be a string');
    if (UNSAFE_PREFIX.test(prefix)) {
      throw new TypeError(`RedisBroker: \`prefix\` ${JSON.stringify(prefix)} contains glob syntax (*?[]\\), a space or a control byte`);
    }
    if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) throw new TypeError(`RedisBroker: \`prefix\` is longer than ${MAX_PREFIX_BYTES} bytes`);
    if (sharded !== undefined && typeof sharded !== 'boolean') throw new TypeError('RedisBroker: `sharded` must be a boolean');
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 10 || timeout > 2 ** 31 - 1) {
      throw new TypeError('RedisBroker: `timeout` must be a number of milliseconds (10 or more)');
    }
    this.#driver = driverFor(client);
    this.#prefix = prefix;
    this.#prefixBytes = Buffer.from(prefix, 'utf8');
    this.#timeout = timeout;
    this.#sharded = sharded;
    this.#tickMs = Math.max(5, Math.min(TICK_MAX, Math.floor(timeout / 2)));
    this.#lastCheck = Date.now();
    this.#tick = setInterval(() => this.#check(), this.#tickMs);
    this.#tick.unref();
    this.#firstAttempt = this.#connect();
  }

  /** Which client library the broker drives. */
  get clientKind(): 'node-redis' | 'ioredis' {
    return this.#driver.kind;
  }

  /** Whether sharded pub/sub is used (`undefined` until the server has been asked). */
  get sharded(): boolean | undefined {
    return this.#sharded;
  }

  /** The prefix in front of every channel. */
  get prefix(): string {
    return this.#prefix;
  }

  /** 'up' while subscribed on a live connection; 'connecting' before the first; 'down' while lost; 'closed'. */
  get state(): 'connecting' | 'up' | 'down' | 'closed' {
    return this.#state;
  }

  onMessage(handler: (channel: string, payload: Buffer) => void): void {
    this.#onMessage = handler;
  }

  onStatus(handler: (status: BrokerStatus, err?: Error) => void): void {
    this.#onStatus = handler;
  }

  /**
   * Subscribes on the live connection and resolves once Redis confirmed. While Redis is away it
   * resolves at once: the channel is recorded and subscribed before 'up' is reported. Rejects when
   * Redis refuses it (an ACL without the channel) or after `close()`.
   */
  async subscribe(channel: string): Promise<void> {
    if (this.#state === 'closed') throw new Error('RedisBroker is closed');
    const had = this.#channels.has(channel);
    this.#channels.add(channel);
    const sub = this.#sub;
    if (sub === undefined) {
      // The next connection subscribes whatever is recorded when it comes up; the first is awaited.
      if (this.#state === 'connecting') await this.#firstAttempt;
      return;
    }
    if (had) return;
    try {
      await sub.subscribe([this.#prefix + channel], this.#sharded === true);
    } catch (err) {
      // A lost connection is the reconnect loop's business; a refusal on a live one is the caller's.
      if (sub === this.#sub && sub.isReady()) {
        this.#channels.delete(channel);
        throw asError(err);
      }
    }
  }

  /** Unsubscribes; never rejects for a lost connection (a new one will not have the channel). */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.#channels.delete(channel)) return;
    const sub = this.#sub;
    if (sub === undefined) return;
    try {
      await sub.unsubscribe([this.#prefix + channel], this.#sharded === true);
    } catch {
      // Lost connection, or closed meanwhile: either way the channel is gone with it.
    }
  }

  /**
   * Publishes with the application's client. Rejects at once while that client is not connected,
   * after `timeout` without an answer, and after `close()`.
   */
  publish(channel: string, payload: Buffer): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new Error('RedisBroker is closed'));
    if (this.#sharded === undefined) {
      if (this.#state !== 'connecting') return Promise.reject(new Error('Redis is not available (pub/sub mode not known yet)'));
      return this.#firstAttempt.then(() => {
        if (this.#sharded === undefined) throw new Error('Redis is not available (pub/sub mode not known yet)');
        return this.publish(channel, payload);
      });
    }
    if (!this.#driver.clientReady()) return Promise.reject(new Error('Redis is not available: the client is not connected'));
    const sharded = this.#sharded;
    return new Promise<void>((resolve, reject) => {
      const entry: PendingPublish = { deadline: Date.now() + this.#timeout, reject };
      this.#pending.add(entry);
      this.#driver.publish(this.#prefix + channel, payload, sharded).then(
        () => {
          this.#pending.delete(entry);
          resolve();
        },
        (err: unknown) => {
          this.#pending.delete(entry);
          reject(asError(err));
        },
      );
    });
  }

  /** Closes the subscriber connection (leaving every channel) and rejects pending publishes. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearInterval(this.#tick);
    clearTimeout(this.#retryTimer);
    this.#sub?.destroy();
    this.#opening?.destroy();
    this.#sub = undefined;
    this.#channels.clear();
    const closed = new Error('RedisBroker is closed');
    for (const p of this.#pending) p.reject(closed);
    this.#pending.clear();
    // A connection attempt in flight sees the state and drops what it opened.
    await this.#firstAttempt;
  }

  /** One connection attempt; on failure, reports 'down' and schedules the next. Never rejects. */
  async #connect(): Promise<void> {
    this.#retryTimer = undefined;
    if (this.#state === 'closed') return;
    const sub = this.#driver.openSubscriber({
      message: (channel, payload) => this.#deliver(channel, payload),
      lost: (err) => this.#lost(sub, err),
    });
    this.#opening = sub;
    const attempt = (async () => {
      await sub.connect();
      if (this.#sharded === undefined) this.#sharded = await sub.supportsSharded();
      // From here on, subscribe/unsubscribe calls go to this connection, in order after this snapshot.
      this.#sub = sub;
      await sub.subscribe(
        [...this.#channels].map((c) => this.#prefix + c),
        this.#sharded,
      );
      await sub.ping();
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.#timeout} ms`)), this.#timeout);
    });
    try {
      await Promise.race([attempt, timedOut]);
    } catch (err) {
      attempt.catch(noop);
      if (this.#sub === sub) this.#sub = undefined;
      sub.destroy();
      if (this.#closed()) return;
      this.#reportDown(asError(err));
      this.#scheduleRetry();
      return;
    } finally {
      clearTimeout(timer);
      this.#opening = undefined;
    }
    if (this.#closed()) return;
    if (this.#sub !== sub || !sub.isReady()) {
      // Lost while subscribing: #lost reported it, the next attempt is ours to schedule.
      if (this.#sub === sub) this.#sub = undefined;
      sub.destroy();
      this.#reportDown(new Error('Redis subscriber connection lost while subscribing'));
      this.#scheduleRetry();
      return;
    }
    this.#state = 'up';
    this.#retryDelay = RETRY_MIN;
    this.#pingSentAt = 0;
    this.#reportUpIfReady();
  }

  /** 'up' only once both sides work: subscriptions on our connection, and the client for publishing. */
  #reportUpIfReady(): void {
    if (!this.#down || this.#state !== 'up' || !this.#driver.clientReady()) return;
    this.#down = false;
    this.#onStatus('up');
  }

  /** A method, not an inline comparison: the state changes across awaits, which narrowing ignores. */
  #closed(): boolean {
    return this.#state === 'closed';
  }

  #scheduleRetry(): void {
    if (this.#state === 'closed' || this.#retryTimer !== undefined) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(RETRY_MAX, delay * 2);
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
  }

  #reportDown(err: Error): void {
    this.#state = 'down';
    this.#reportDownOnce(err);
  }

  #reportDownOnce(err: Error): void {
    if (this.#down) return;
    this.#down = true;
    this.#onStatus('down', err);
  }

  /** The connection failed or stopped answering. */
  #lost(sub: SubscriberConnection, err: Error): void {
    if (sub !== this.#sub) return;
    this.#sub = undefined;
    sub.destroy();
    if (this.#state === 'closed') return;
    const wasUp = this.#state === 'up';
    this.#reportDown(err);
    // While connecting, the attempt's own failure path schedules the retry.
    if (wasUp) this.#scheduleRetry();
  }

  /** Health check: PING the subscriber connection, time out stuck publishes. */
  #check(): void {
    const now = Date.now();
    // After the event loop was blocked, timers run before the I/O that may hold the very answers we
    // would call late: judge nothing this time, the next check comes after that I/O.
    const blocked = now - this.#lastCheck > this.#tickMs + Math.max(this.#tickMs, 100);
    this.#lastCheck = now;
    if (blocked) return;
    for (const p of this.#pending) {
      // Entries are in publish order: the first not yet due ends the sweep.
      if (p.deadline > now) break;
      this.#pending.delete(p);
      p.reject(new Error(`Redis did not acknowledge the publish within ${this.#timeout} ms`));
    }
    const sub = this.#sub;
    if (sub === undefined || this.#state !== 'up') return;
    // The application's client reconnects on its own schedule: publishing is down while it is away.
    if (this.#driver.clientReady()) this.#reportUpIfReady();
    else this.#reportDownOnce(new Error('Redis is not available: the client is not connected'));
    if (this.#pingSentAt !== 0) {
      if (now - this.#pingSentAt >= this.#timeout) {
        this.#lost(sub, new Error(`Redis did not answer PING within ${this.#timeout} ms`));
      }
      return;
    }
    this.#pingSentAt = now;
    sub.ping().then(
      () => {
        if (sub === this.#sub) this.#pingSentAt = 0;
      },
      (err: unknown) => this.#lost(sub, asError(err)),
    );
  }

  #deliver(channel: Buffer, payload: Buffer): void {
    const prefix = this.#prefixBytes;
    if (channel.length < prefix.length || channel.compare(prefix, 0, prefix.length, 0, prefix.length) !== 0) return;
    const topic = channel.toString('utf8', prefix.length);
    try {
      this.#onMessage(topic, payload);
    } catch (err) {
      // Not into the client library's parser, where it would break the connection's reply stream.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
