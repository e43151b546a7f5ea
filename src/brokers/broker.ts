/**
 * The seam between a {@link Hub} and whatever carries its messages to other processes and hosts.
 *
 * A broker is a plain pub/sub transport: it moves opaque payloads on named channels and knows
 * nothing of WebSockets. The hub decides what goes in a payload (see `envelope.ts`) and which
 * channels it needs: one per topic that has a local subscriber. Implement it to bring NATS, Kafka,
 * Postgres LISTEN/NOTIFY or anything else; `wsflow/redis` ships one for Redis.
 *
 * Contract:
 * - `subscribe`/`unsubscribe` are idempotent and may be called again for a channel while an earlier
 *   call for it is still pending; the broker keeps the last word.
 * - `publish` resolves once the transport accepted the payload, and rejects when it could not
 *   (the hub counts such a publish as not forwarded; it never retries: delivery is at-most-once).
 * - Payloads published by this process may come back through `onMessage`: the hub drops its own.
 * - A broker that can lose and regain its transport reports it through the optional `onStatus`
 *   and re-establishes every subscription itself before reporting 'up'.
 * - No method throws synchronously; failures are rejections or 'down' reports.
 */
export interface Broker {
  /** Starts receiving the channel's messages. */
  subscribe(channel: string): Promise<void>;
  /** Stops receiving the channel's messages. */
  unsubscribe(channel: string): Promise<void>;
  /** Sends a payload to every process subscribed to the channel (this one included, possibly). */
  publish(channel: string, payload: Buffer): Promise<void>;
  /** Sets the one function that receives every message of every subscribed channel. */
  onMessage(handler: (channel: string, payload: Buffer) => void): void;
  /**
   * Optional: sets the one function told when the transport goes away ('down', with why) and comes
   * back with every subscription re-established ('up').
   */
  onStatus?(handler: (status: BrokerStatus, err?: Error) => void): void;
  /** Leaves every channel and releases what the broker opened itself (not what it was given). */
  close(): Promise<void>;
}

/** What a broker reports through `onStatus`. */
export type BrokerStatus = 'down' | 'up';
