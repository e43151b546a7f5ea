// An in-memory Broker for tests: brokers made from one MemoryBus see each other's publishes, asynchronously,
// as a real transport would deliver them (this process's own included). The bus can go down and come back,
// fail publishes, and inject arbitrary payloads, to test the hub's forwarding without Redis.
import type { Broker, BrokerStatus } from '../../src';

export class MemoryBus {
  readonly brokers = new Set<MemoryBroker>();
  /** While down, publishes reject and nothing is delivered. */
  up = true;

  /** Makes a broker on this bus. */
  broker(): MemoryBroker {
    const broker = new MemoryBroker(this);
    this.brokers.add(broker);
    return broker;
  }

  /** Every broker reports 'down'. */
  goDown(err = new Error('bus down')): void {
    this.up = false;
    for (const b of this.brokers) b.status?.('down', err);
  }

  /** Every broker reports 'up' (its subscriptions are kept: they live in the bus). */
  comeBack(): void {
    this.up = true;
    for (const b of this.brokers) b.status?.('up');
  }

  /** Delivers `payload` on `channel` to every broker subscribed to it, on a later turn. */
  deliver(channel: string, payload: Buffer): void {
    setImmediate(() => {
      if (!this.up) return;
      for (const b of this.brokers) if (b.channels.has(channel)) b.handler?.(channel, payload);
    });
  }
}

export class MemoryBroker implements Broker {
  readonly channels = new Set<string>();
  /** Every call, in order: 'subscribe:t', 'unsubscribe:t', 'publish:t', 'close'. */
  readonly calls: string[] = [];
  handler: ((channel: string, payload: Buffer) => void) | null = null;
  status: ((status: BrokerStatus, err?: Error) => void) | null = null;
  /** The next publishes reject with this error (counts down). */
  failPublishes = 0;
  closed = false;

  constructor(private readonly bus: MemoryBus) {}

  async subscribe(channel: string): Promise<void> {
    this.calls.push(`subscribe:${channel}`);
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.calls.push(`unsubscribe:${channel}`);
    this.channels.delete(channel);
  }

  async publish(channel: string, payload: Buffer): Promise<void> {
    this.calls.push(`publish:${channel}`);
    if (this.failPublishes > 0) {
      this.failPublishes--;
      throw new Error('publish refused');
    }
    if (!this.bus.up) throw new Error('bus down');
    this.bus.deliver(channel, Buffer.from(payload));
  }

  onMessage(handler: (channel: string, payload: Buffer) => void): void {
    this.handler = handler;
  }

  onStatus(handler: (status: BrokerStatus, err?: Error) => void): void {
    this.status = handler;
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
    this.channels.clear();
    this.bus.brokers.delete(this);
  }
}
