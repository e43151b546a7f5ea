// Shared by the Redis broker tests: a recorder of what a broker delivers and reports, with bounded,
// event-driven waits (no sleeps as proof).
import type { BrokerStatus } from '../../src/brokers/broker';
import type { RedisBroker } from '../../src/brokers/redis';

export const WAIT = 20_000;

export interface Received {
  channel: string;
  payload: Buffer;
}

/** Records a broker's messages and status reports; `until(...)` waits for a condition on them. */
export class BrokerRecorder {
  readonly messages: Received[] = [];
  readonly statuses: Array<{ status: BrokerStatus; err?: Error }> = [];
  private waiters: Array<() => void> = [];

  constructor(broker: RedisBroker) {
    broker.onMessage((channel, payload) => {
      // A copy: the payload may be a view of a buffer the client library reuses.
      this.messages.push({ channel, payload: Buffer.from(payload) });
      this.wake();
    });
    broker.onStatus((status, err) => {
      this.statuses.push(err === undefined ? { status } : { status, err });
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when `condition()` holds (checked on every message or status), rejects after `ms`. */
  until(condition: () => boolean, what: string, ms = WAIT): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; statuses ${JSON.stringify(this.statuses.map((s) => s.status))}, ${this.messages.length} messages`));
      }, ms);
      const check = (): void => {
        if (condition()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  statusList(): BrokerStatus[] {
    return this.statuses.map((s) => s.status);
  }

  texts(channel?: string): string[] {
    return this.messages.filter((m) => channel === undefined || m.channel === channel).map((m) => m.payload.toString());
  }
}

/**
 * Publishes `payload` until `recorder` has received it (the first publishes after a restart may be
 * lost: at-most-once), bounded. Returns how many publishes it took.
 */
export async function publishUntilReceived(
  broker: RedisBroker,
  recorder: BrokerRecorder,
  channel: string,
  payload: string,
  ms = WAIT,
): Promise<number> {
  const deadline = Date.now() + ms;
  let attempts = 0;
  while (Date.now() < deadline) {
    attempts++;
    await broker.publish(channel, Buffer.from(payload)).catch(() => undefined);
    try {
      await recorder.until(() => recorder.texts(channel).includes(payload), `${payload} on ${channel}`, 200);
      return attempts;
    } catch {
      // not yet: publish again
    }
  }
  throw new Error(`${payload} never arrived on ${channel} within ${ms} ms (${attempts} publishes)`);
}
