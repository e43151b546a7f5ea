// In-process fan-out: topics, encode-once publish, the slow-consumer policy, and the forwarding to a
// Broker for other processes. Sits above src/connection (it drives WebSockets) and src/brokers.
import { randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import type { Broker, BrokerStatus } from '../brokers/broker';
import { decodeEnvelope, encodeEnvelope, type EnvelopeRejection } from '../brokers/envelope';
import { CloseCode } from '../errors';
import { DELIVER_OVER_LIMIT, DELIVER_QUEUED, WebSocket } from '../connection/websocket';
import { PreparedMessage, preparedFromChecked } from '../connection/prepared-message';

/**
 * The longest topic, in UTF-8 bytes. Topics are map keys here and channel names on a broker (where a
 * prefix is added and the envelope carries the topic too): a bound keeps a hostile or buggy caller from
 * making every publish carry kilobytes of name.
 */
export const MAX_TOPIC_LENGTH = 1024;

/**
 * Default `backpressureLimit`: 1 MiB. uWebSockets' 64 KiB drops a subscriber as soon as a burst fills
 * its kernel buffer plus a few messages, and cannot hold even one message bigger than that; Bun's 16 MiB
 * lets 10,000 slow subscribers pin 160 GB in the worst case. 1 MiB absorbs bursts of a thousand 1 KiB
 * messages per subscriber, and since a publish writes one shared frame to every subscriber, the bytes
 * counted against each connection's limit are mostly the same buffers: what the process really holds for
 * N slow subscribers is far below N × limit.
 */
export const DEFAULT_BACKPRESSURE_LIMIT = 1024 * 1024;

/** The close reason sent to a subscriber closed by the 'close' policy. */
const BACKPRESSURE_REASON = 'Backpressure limit exceeded';

/** Options of a {@link Hub}. */
export interface HubOptions {
  /** Carries publishes to the hubs of other processes and hosts (see `wsflow/redis`). Owned by the hub from then on: `hub.close()` closes it. */
  broker?: Broker;
  /**
   * Bytes waiting to be sent on one connection (its `bufferedAmount`) beyond which a publish is not queued to
   * it. Default {@link DEFAULT_BACKPRESSURE_LIMIT} (1 MiB).
   */
  backpressureLimit?: number;
  /**
   * What happens to a subscriber over the limit: 'drop' (default) skips it for this message and emits
   * 'dropped'; 'close' closes it with 1008 "Backpressure limit exceeded".
   */
  onBackpressureLimit?: 'drop' | 'close';
  /**
   * When false (default), the connection named by a publish's `exclude` (typically the one whose message is
   * being relayed) does not get it; when true, `exclude` is ignored and it does, like Bun's `publishToSelf`.
   */
  publishToSelf?: boolean;
}

/** Options of `publish()` and `broadcast()`. */
export interface PublishOptions {
  /** Message type of string or bytes data (default: text for a string, binary for bytes); a PreparedMessage keeps its own. */
  type?: 'text' | 'binary';
  /** Set false to send it uncompressed even to connections with permessage-deflate. Default true. */
  compress?: boolean;
  /** A connection that does not get this message (unless the hub's `publishToSelf` is true). */
  exclude?: WebSocket;
}

/** Counters of a {@link Hub} since it was created. Plain numbers, updated in place. */
export interface HubStats {
  /** Calls of publish() and broadcast(). */
  published: number;
  /** Messages queued to connections, all publishes together (local and from the broker). */
  delivered: number;
  /** Deliveries refused because the connection was over `backpressureLimit` (both policies). */
  dropped: number;
  /** Publishes the broker accepted. */
  forwarded: number;
  /** Publishes that did not reach the broker: it was down, or its publish failed. */
  notForwarded: number;
  /** Messages of other hubs received from the broker. */
  received: number;
  /** This hub's own messages that came back through the broker, and were dropped. */
  ownEchoes: number;
  /** Payloads received from the broker that were not a valid envelope, by kind. */
  rejected: Record<EnvelopeRejection, number>;
}

/** The events of a {@link Hub}, with their arguments. */
export interface HubEvents {
  /** A delivery was dropped by the 'drop' policy; `topic` is null for broadcast(); `bytes` is the payload's size. */
  dropped: [ws: WebSocket, topic: string | null, bytes: number];
  /** The broker failed an operation (subscribe, unsubscribe, publish, close) or a listener threw on a broker message. */
  error: [err: Error];
  /** The broker lost its transport: publishes are not forwarded until 'broker-up'. */
  'broker-down': [err: Error];
  /** The broker is back, every subscription re-established. */
  'broker-up': [];
}

// Typed listeners for the events above.
export interface Hub {
  on<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): this;
  once<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): this;
  off<K extends keyof HubEvents>(event: K, listener: (...args: HubEvents[K]) => void): this;
  emit<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): boolean;
}

/** A topic's local subscribers, and the one copy of its name that every membership shares. */
class Subscribers extends Set<WebSocket> {
  constructor(readonly topic: string) {
    super();
  }
}

function checkSocket(ws: unknown): asserts ws is WebSocket {
  if (!(ws instanceof WebSocket)) throw new TypeError('Not a wsflow WebSocket');
}

// A lone surrogate: UTF-8 has no encoding for it, so two such topics would become one on a broker.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('A topic is a non-empty string');
  if (LONE_SURROGATE.test(topic)) throw new TypeError('A topic must be well-formed Unicode (no lone surrogate)');
  // A UTF-16 unit is at most 3 UTF-8 bytes: most topics are decided without counting.
  if (topic.length * 3 > MAX_TOPIC_LENGTH && Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_LENGTH) {
    throw new TypeError(`A topic is at most ${MAX_TOPIC_LENGTH} bytes of UTF-8`);
  }
}

function prepare(data: unknown, type: unknown): PreparedMessage {
  if (data instanceof PreparedMessage) return data;
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
    throw new TypeError('A message is a string, a Uint8Array or a PreparedMessage');
  }
  if (type !== undefined && type !== 'text' && type !== 'binary') throw new TypeError(`Unknown message type ${String(type)}`);
  return new PreparedMessage(data, type);
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Topics and fan-out in one process. A publish frames its message once ({@link PreparedMessage}) and queues the
 * same bytes to every open subscriber, synchronously; several publishes in one tick leave each connection
 * in one `writev`. A subscriber whose `bufferedAmount` is over `backpressureLimit` is skipped ('drop') or
 * closed with 1008 ('close'). A connection leaves all its topics when it closes. With a `broker`, publishes
 * also go to the hubs of other processes, and theirs come here (at most once: see docs/guide.md).
 *
 * Events: 'dropped' (ws, topic, bytes), 'error' (err; only emitted when someone listens), 'broker-down'
 * (err), 'broker-up'.
 */
export class Hub extends EventEmitter {
  /** Counters since creation (see {@link HubStats}). */
  readonly stats: Readonly<HubStats> = {
    published: 0,
    delivered: 0,
    dropped: 0,
    forwarded: 0,
    notForwarded: 0,
    received: 0,
    ownEchoes: 0,
    rejected: { foreign: 0, version: 0, malformed: 0 },
  };

  private readonly counters: HubStats;
  private readonly topics = new Map<string, Subscribers>();
  private readonly memberships = new Map<WebSocket, Set<string>>();
  private readonly broker: Broker | null;
  private readonly limit: number;
  private readonly closeOverLimit: boolean;
  private readonly publishToSelf: boolean;
  // This hub's id on the broker, so its own messages coming back are dropped.
  private readonly origin: Buffer = randomBytes(8);
  private brokerUp = true;
  private closing: Promise<void> | null = null;
  // One listener for every subscriber's 'close' (called with the connection as `this`): no closure each.
  private readonly onSubscriberClose: (this: WebSocket) => void;
  private readonly onForwarded = (): void => {
    this.counters.forwarded++;
  };
  private readonly onForwardFailed = (err: unknown): void => {
    this.counters.notForwarded++;
    this.report(err);
  };
  private readonly onBrokerFailure = (err: unknown): void => this.report(err);

  constructor(options: HubOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('Hub options must be an object');
    const limit = options.backpressureLimit ?? DEFAULT_BACKPRESSURE_LIMIT;
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new RangeError(`backpressureLimit must be a number >= 0, got ${String(limit)}`);
    }
    const policy = options.onBackpressureLimit ?? 'drop';
    if (policy !== 'drop' && policy !== 'close') {
      throw new TypeError(`onBackpressureLimit must be 'drop' or 'close', got ${String(policy)}`);
    }
    const broker = options.broker ?? null;
    if (broker !== null && (typeof broker !== 'object' || typeof broker.publish !== 'function' || typeof broker.onMessage !== 'function')) {
      throw new TypeError('broker must implement the Broker interface');
    }
    this.limit = limit;
    this.closeOverLimit = policy === 'close';
    this.publishToSelf = options.publishToSelf === true;
    this.counters = this.stats as HubStats;
    this.broker = broker;
    const hub = this;
    this.onSubscriberClose = function (this: WebSocket) {
      hub.leaveAll(this);
    };
    if (broker !== null) {
      broker.onMessage((channel, payload) => this.handleBrokerMessage(channel, payload));
      broker.onStatus?.((status, err) => this.handleBrokerStatus(status, err));
    }
  }

  /** Adds `ws` to `topic` (idempotent). A connection that is already closed is not added: it could never leave. */
  subscribe(ws: WebSocket, topic: string): void {
    checkSocket(ws);
    checkTopic(topic);
    if (this.closing !== null) throw new Error('The hub is closed');
    if (ws.readyState === 'closed') return;
    let subscribers = this.topics.get(topic);
    if (subscribers === undefined) {
      subscribers = new Subscribers(topic);
      this.topics.set(topic, subscribers);
      this.callBroker('subscribe', topic);
    } else if (subscribers.has(ws)) {
      return;
    }
    subscribers.add(ws);
    let mine = this.memberships.get(ws);
    if (mine === undefined) {
      mine = new Set();
      this.memberships.set(ws, mine);
      ws.on('close', this.onSubscriberClose);
    }
    // The topic's own string: callers often build a fresh one per call (`room-${id}`), and one copy per
    // subscription would cost a third of it.
    mine.add(subscribers.topic);
  }

  /** Removes `ws` from `topic` (idempotent). */
  unsubscribe(ws: WebSocket, topic: string): void {
    checkSocket(ws);
    checkTopic(topic);
    const mine = this.memberships.get(ws);
    if (mine === undefined || !mine.delete(topic)) return;
    this.removeFromTopic(ws, topic);
    if (mine.size === 0) {
      this.memberships.delete(ws);
      ws.off('close', this.onSubscriberClose);
    }
  }

  /** Whether `ws` is subscribed to `topic`. */
  isSubscribed(ws: WebSocket, topic: string): boolean {
    checkSocket(ws);
    checkTopic(topic);
    return this.topics.get(topic)?.has(ws) ?? false;
  }

  /** The topics `ws` is subscribed to (a copy). */
  topicsOf(ws: WebSocket): string[] {
    checkSocket(ws);
    const mine = this.memberships.get(ws);
    return mine === undefined ? [] : [...mine];
  }

  /** How many local connections are subscribed to `topic`. O(1). */
  subscriberCount(topic: string): number {
    checkTopic(topic);
    return this.topics.get(topic)?.size ?? 0;
  }

  /**
   * Queues the message to every open local subscriber of `topic` (same bytes for all, see
   * {@link PreparedMessage}) and hands it to the broker, if any, without waiting. Synchronous: returns how many
   * local connections it was queued to. Throws a TypeError for a bad topic, data or option, an Error once the
   * hub is closed.
   */
  publish(topic: string, data: string | Uint8Array | PreparedMessage, options?: PublishOptions): number {
    if (this.closing !== null) throw new Error('The hub is closed');
    checkTopic(topic);
    const prepared = prepare(data, options?.type);
    const compress = options?.compress !== false;
    const exclude = this.excluded(options);
    this.counters.published++;
    const subscribers = this.topics.get(topic);
    const count = subscribers === undefined ? 0 : this.deliver(subscribers, prepared, compress, exclude, topic, false);
    if (this.broker !== null) this.forward(topic, prepared, compress);
    return count;
  }

  /**
   * Queues the message to each open connection of `sockets`, as publish() does, without a topic (and without
   * the broker). Returns how many it was queued to. A TypeError is thrown at the first item that is not a
   * wsflow WebSocket (the ones before it got the message).
   */
  broadcast(sockets: Iterable<WebSocket>, data: string | Uint8Array | PreparedMessage, options?: PublishOptions): number {
    if (this.closing !== null) throw new Error('The hub is closed');
    if (sockets === null || typeof (sockets as Partial<Iterable<WebSocket>>)[Symbol.iterator] !== 'function') {
      throw new TypeError('broadcast() takes an iterable of WebSockets');
    }
    const prepared = prepare(data, options?.type);
    const compress = options?.compress !== false;
    const exclude = this.excluded(options);
    const count = this.deliver(sockets, prepared, compress, exclude, null, true);
    this.counters.published++;
    return count;
  }

  /**
   * Unsubscribes everyone and closes the broker (which leaves its channels). Later calls of publish(),
   * broadcast() and subscribe() throw. Idempotent; never rejects (broker failures go to 'error').
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    for (const ws of this.memberships.keys()) ws.off('close', this.onSubscriberClose);
    this.memberships.clear();
    this.topics.clear();
    const broker = this.broker;
    if (broker === null) {
      this.closing = Promise.resolve();
      return this.closing;
    }
    this.closing = (async () => {
      try {
        await broker.close();
      } catch (err) {
        this.report(err);
      }
    })();
    return this.closing;
  }

  // ---- delivery -------------------------------------------------------------------------------

  private excluded(options: PublishOptions | undefined): WebSocket | null {
    const exclude = options?.exclude;
    if (exclude === undefined) return null;
    checkSocket(exclude);
    return this.publishToSelf ? null : exclude;
  }

  // The hot loop: one call per subscriber, no closure, no promise.
  private deliver(
    sockets: Iterable<WebSocket>,
    prepared: PreparedMessage,
    compress: boolean,
    exclude: WebSocket | null,
    topic: string | null,
    check: boolean,
  ): number {
    const limit = this.limit;
    let queued = 0;
    for (const ws of sockets) {
      if (check) checkSocket(ws);
      if (ws === exclude) continue;
      const result = ws.deliverPrepared(prepared, compress, limit);
      if (result === DELIVER_QUEUED) queued++;
      else if (result === DELIVER_OVER_LIMIT) this.overLimit(ws, topic, prepared.length);
    }
    this.counters.delivered += queued;
    return queued;
  }

  private overLimit(ws: WebSocket, topic: string | null, bytes: number): void {
    this.counters.dropped++;
    if (this.closeOverLimit) {
      // The Close waits behind what is queued; the connection's closeTimeout bounds a peer that never reads it.
      ws.close(CloseCode.PolicyViolation, BACKPRESSURE_REASON).catch(ignore);
      return;
    }
    this.emit('dropped', ws, topic, bytes);
  }

  // ---- membership -----------------------------------------------------------------------------

  private removeFromTopic(ws: WebSocket, topic: string): void {
    const subscribers = this.topics.get(topic);
    if (subscribers === undefined || !subscribers.delete(ws)) return;
    if (subscribers.size === 0) {
      this.topics.delete(topic);
      this.callBroker('unsubscribe', topic);
    }
  }

  private leaveAll(ws: WebSocket): void {
    const mine = this.memberships.get(ws);
    if (mine === undefined) return;
    this.memberships.delete(ws);
    ws.off('close', this.onSubscriberClose);
    for (const topic of mine) this.removeFromTopic(ws, topic);
  }

  // ---- broker ---------------------------------------------------------------------------------

  private callBroker(method: 'subscribe' | 'unsubscribe', topic: string): void {
    const broker = this.broker;
    if (broker === null) return;
    try {
      broker[method](topic).then(undefined, this.onBrokerFailure);
    } catch (err) {
      // The contract says brokers never throw; one that does must not break subscribe().
      this.report(err);
    }
  }

  private forward(topic: string, prepared: PreparedMessage, compress: boolean): void {
    if (!this.brokerUp) {
      this.counters.notForwarded++;
      return;
    }
    try {
      const envelope = encodeEnvelope(this.origin, prepared.type, compress, topic, prepared.payload);
      (this.broker as Broker).publish(topic, envelope).then(this.onForwarded, this.onForwardFailed);
    } catch (err) {
      this.onForwardFailed(err);
    }
  }

  private handleBrokerMessage(_channel: string, payload: Buffer): void {
    if (this.closing !== null) return;
    const envelope = Buffer.isBuffer(payload) ? decodeEnvelope(payload) : 'foreign';
    if (typeof envelope === 'string') {
      this.counters.rejected[envelope]++;
      return;
    }
    if (envelope.origin.equals(this.origin)) {
      this.counters.ownEchoes++;
      return;
    }
    this.counters.received++;
    const subscribers = this.topics.get(envelope.topic);
    if (subscribers === undefined) return;
    try {
      // decodeEnvelope already checked a text payload's UTF-8; one PreparedMessage per arrival, shared by all.
      const prepared = preparedFromChecked(envelope.payload, envelope.type);
      this.deliver(subscribers, prepared, envelope.compress, null, envelope.topic, false);
    } catch (err) {
      // A 'dropped' listener threw: that is the application's bug, but it must not break the broker's loop.
      this.report(err);
    }
  }

  private handleBrokerStatus(status: BrokerStatus, err: Error | undefined): void {
    if (this.closing !== null) return;
    try {
      if (status === 'down') {
        if (!this.brokerUp) return;
        this.brokerUp = false;
        this.emit('broker-down', err ?? new Error('The broker lost its transport'));
      } else if (status === 'up') {
        if (this.brokerUp) return;
        this.brokerUp = true;
        this.emit('broker-up');
      }
    } catch (listenerError) {
      this.report(listenerError);
    }
  }

  // 'error' only when someone listens: a broker failure must never crash the process.
  private report(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', toError(err));
  }
}

function ignore(): void {
  // The close() of a connection over the limit only fails for an invalid code, which ours is not.
}
