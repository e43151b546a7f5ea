// The slow-consumer policy: a subscriber that does not read is skipped ('drop') or closed with 1008
// ('close') once more than backpressureLimit bytes wait on it, while the others get every message.
import { CloseError, type WebSocket } from '../../src';
import { socketOf, startHubServer, type HubServer } from '../helpers/fanout';

let server: HubServer;
afterEach(async () => {
  await server?.close();
});

const LIMIT = 64 * 1024;
const SIZE = 16 * 1024;
// Loopback kernel buffers hold a few MiB before the server's own buffer grows: enough rounds to fill them.
const MAX_ROUNDS = 4000;

/** Reads every message of `ws` until it closes; resolves with the count and how it ended. */
async function drain(ws: WebSocket): Promise<{ count: number; end: unknown }> {
  let count = 0;
  for (;;) {
    try {
      await ws.readMessage();
      count++;
    } catch (err) {
      return { count, end: err };
    }
  }
}

describe('Hub: slow consumers', () => {
  test("'drop': the slow one is skipped and reported, its buffer stays bounded, the others get everything", async () => {
    server = await startHubServer({ hub: { backpressureLimit: LIMIT } });
    const hub = server.wss.hub;
    const fast = await server.open();
    const slow = await server.open();
    hub.subscribe(fast.server, 'feed');
    hub.subscribe(slow.server, 'feed');
    // The slow client never reads: its socket is paused, so the kernel buffers fill and then the server's.
    socketOf(slow.client).pause();
    const fastReading = drain(fast.client);
    const dropped: Array<[WebSocket, string | null, number]> = [];
    hub.on('dropped', (ws, topic, bytes) => dropped.push([ws, topic, bytes]));
    const payload = Buffer.alloc(SIZE, 7);
    let published = 0;
    let maxBuffered = 0;
    for (let round = 0; round < MAX_ROUNDS && dropped.length < 20; round++) {
      hub.publish('feed', payload);
      published++;
      maxBuffered = Math.max(maxBuffered, slow.server.bufferedAmount);
      // Let the fast one's bytes go out (and be read): it must never be the one over the limit.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(dropped.length).toBeGreaterThanOrEqual(20);
    for (const [ws, topic, bytes] of dropped) {
      expect(ws).toBe(slow.server);
      expect(topic).toBe('feed');
      expect(bytes).toBe(SIZE);
    }
    // Bounded: the limit plus the one frame that crossed it.
    expect(maxBuffered).toBeLessThanOrEqual(LIMIT + SIZE + 4);
    expect(hub.stats.dropped).toBe(dropped.length);
    expect(slow.server.readyState).toBe('open');
    // The fast one got every message.
    hub.publish('feed', 'end');
    await fast.client.close();
    const { count } = await fastReading;
    expect(count).toBe(published + 1);
  });

  test("'close': the slow one is closed with 1008 and a reason, the others go on", async () => {
    server = await startHubServer({
      hub: { backpressureLimit: LIMIT, onBackpressureLimit: 'close' },
      upgrader: { closeTimeout: 60_000 },
    });
    const hub = server.wss.hub;
    const fast = await server.open();
    const slow = await server.open();
    hub.subscribe(fast.server, 'feed');
    hub.subscribe(slow.server, 'feed');
    socketOf(slow.client).pause();
    const fastReading = drain(fast.client);
    let dropped = 0;
    hub.on('dropped', () => dropped++);
    const payload = Buffer.alloc(SIZE, 7);
    let published = 0;
    for (let round = 0; round < MAX_ROUNDS && slow.server.readyState === 'open'; round++) {
      hub.publish('feed', payload);
      published++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slow.server.readyState).toBe('closing');
    expect(hub.stats.dropped).toBe(1);
    expect(dropped).toBe(0); // 'dropped' is the 'drop' policy's report
    // Further publishes skip it (closing) without counting it again.
    const before = hub.stats.delivered;
    expect(hub.publish('feed', payload)).toBe(1);
    expect(hub.stats.delivered).toBe(before + 1);
    published++;
    // Once it reads again, it gets what was queued, then the Close.
    socketOf(slow.client).resume();
    const slowEnd = await drain(slow.client);
    expect(slowEnd.end).toBeInstanceOf(CloseError);
    expect((slowEnd.end as CloseError).code).toBe(1008);
    expect((slowEnd.end as CloseError).reason).toBe('Backpressure limit exceeded');
    expect(slowEnd.count).toBeLessThan(published);
    await new Promise((resolve) => slow.server.once('close', resolve));
    expect(hub.subscriberCount('feed')).toBe(1);
    hub.publish('feed', 'end');
    await fast.client.close();
    expect((await fastReading).count).toBe(published + 1);
  });
});
