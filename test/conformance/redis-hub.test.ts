// Two hubs (two servers) in one process, each with its own RedisBroker and client, on a real redis-server
// that is stopped and restarted: both hubs emit 'broker-down' then 'broker-up', local delivery never stops,
// publishes made meanwhile are counted as not forwarded, and forwarding between the hubs resumes.
import { createClient } from 'redis';
import { Hub, type WebSocket } from '../../src';
import { RedisBroker } from '../../src/brokers/redis';
import { startHubServer, type HubServer } from '../helpers/fanout';
import { hasRedisServer, RedisServer, stopAllRedisServers } from '../helpers/redis-server';
import { describePeer } from '../interop/helpers';

jest.setTimeout(60_000);
const WAIT = 20_000;

/** Every text a client receives, and a bounded wait for one. */
function inbox(ws: WebSocket): { texts: string[]; until: (text: string) => Promise<void> } {
  const texts: string[] = [];
  let wake: Array<() => void> = [];
  void (async () => {
    try {
      for await (const m of ws) {
        texts.push(m.data.toString('utf8'));
        for (const w of wake.splice(0)) w();
      }
    } catch {
      /* closed */
    }
  })();
  return {
    texts,
    until: (text) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${text}: ${JSON.stringify(texts)}`)), WAIT);
        const check = (): void => {
          if (texts.includes(text)) {
            clearTimeout(timer);
            resolve();
          } else wake.push(check);
        };
        check();
      }),
  };
}

function once(hub: Hub, event: 'broker-down' | 'broker-up'): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT} ms`)), WAIT);
    hub.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describePeer('Hub + RedisBroker, Redis stopped and restarted', hasRedisServer(), () => {
  let redis: RedisServer;
  const servers: HubServer[] = [];
  const hubs: Hub[] = [];
  const clients: Array<ReturnType<typeof createClient>> = [];

  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const h of hubs) await h.close();
    for (const c of clients) if (c.isOpen) c.destroy();
    await stopAllRedisServers();
  });

  test('down: local delivery goes on, publishes are not forwarded; up: forwarding resumes', async () => {
    redis = await RedisServer.start();
    for (let i = 0; i < 2; i++) {
      const client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 50 } });
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      const hub = new Hub({ broker: new RedisBroker({ client, timeout: 2000 }) });
      hub.on('error', () => undefined);
      hubs.push(hub);
      servers.push(await startHubServer({ hub }));
    }
    const [hubA, hubB] = hubs as [Hub, Hub];
    const a = await (servers[0] as HubServer).open();
    const b = await (servers[1] as HubServer).open();
    hubA.subscribe(a.server, 'news');
    hubB.subscribe(b.server, 'news');
    const inboxA = inbox(a.client);
    const inboxB = inbox(b.client);
    // Both brokers subscribed: a publish on A reaches B (retried: the subscription is asynchronous).
    for (let i = 0; !inboxB.texts.includes(`hello ${i - 1}`) && i < 200; i++) {
      hubA.publish('news', `hello ${i}`);
      await Promise.race([inboxB.until(`hello ${i}`), new Promise((r) => setTimeout(r, 100))]).catch(() => undefined);
    }
    expect(inboxB.texts.some((t) => t.startsWith('hello '))).toBe(true);

    const downs = [once(hubA, 'broker-down'), once(hubB, 'broker-down')];
    await redis.stop();
    await Promise.all(downs);
    const notForwarded = hubA.stats.notForwarded;
    expect(hubA.publish('news', 'local only')).toBe(1);
    await inboxA.until('local only');
    expect(hubA.stats.notForwarded).toBe(notForwarded + 1);

    const ups = [once(hubA, 'broker-up'), once(hubB, 'broker-up')];
    await redis.restart();
    await Promise.all(ups);
    hubA.publish('news', 'after restart');
    await inboxB.until('after restart');
    await inboxA.until('after restart');
    expect(inboxB.texts).not.toContain('local only');
    // Each side got 'after restart' once: A locally (its echo from Redis dropped), B from Redis.
    expect(inboxA.texts.filter((t) => t === 'after restart')).toHaveLength(1);
    expect(hubA.stats.ownEchoes).toBeGreaterThan(0);
  });
});
