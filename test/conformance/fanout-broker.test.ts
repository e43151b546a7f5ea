// Forwarding through a Broker: two hubs, each with its own server and broker on one in-memory bus, publish to
// each other's subscribers; the broker seam's contract (subscribe on the first local subscriber, unsubscribe
// on the last, own messages dropped, refusals counted, down/up reported) is checked call by call.
import { once } from 'events';
import { encodeEnvelope } from '../../src/brokers/envelope';
import { Hub, type WebSocket } from '../../src';
import { readN, startHubServer, waitFor, type HubServer } from '../helpers/fanout';
import { MemoryBus, type MemoryBroker } from '../helpers/memory-broker';

let servers: HubServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function twoProcesses(): Promise<{
  bus: MemoryBus;
  brokers: [MemoryBroker, MemoryBroker];
  hubs: [Hub, Hub];
  a: { client: WebSocket; server: WebSocket };
  b: { client: WebSocket; server: WebSocket };
}> {
  const bus = new MemoryBus();
  const brokers: [MemoryBroker, MemoryBroker] = [bus.broker(), bus.broker()];
  const s1 = await startHubServer({ hub: { broker: brokers[0] } });
  const s2 = await startHubServer({ hub: { broker: brokers[1] } });
  servers.push(s1, s2);
  const a = await s1.open();
  const b = await s2.open();
  return { bus, brokers, hubs: [s1.wss.hub, s2.wss.hub], a, b };
}

describe('Hub with a broker', () => {
  test("a publish reaches the other hub's subscribers once, and its own once (its echo is dropped)", async () => {
    const { brokers, hubs, a, b } = await twoProcesses();
    hubs[0].subscribe(a.server, 'room');
    hubs[1].subscribe(b.server, 'room');
    await waitFor(() => brokers.every((x) => x.channels.has('room')), 'both brokers to subscribe');
    expect(hubs[0].publish('room', 'from A')).toBe(1);
    expect(hubs[1].publish('room', Buffer.from([0xde, 0xad]))).toBe(1);
    expect(hubs[1].publish('room', 'text as binary', { type: 'binary' })).toBe(1);
    const fromB = ['bin:dead', `bin:${Buffer.from('text as binary').toString('hex')}`];
    // Both see all three: each hub's own publishes at once, the other's a turn later through the bus.
    expect(await readN(a.client, 3)).toEqual(['from A', ...fromB]);
    expect(await readN(b.client, 3)).toEqual([...fromB, 'from A']);
    await waitFor(() => hubs[0].stats.ownEchoes === 1 && hubs[1].stats.ownEchoes === 2, 'the echoes');
    // Nothing arrives twice: a marker published last is the next message on both.
    hubs[0].publish('room', 'marker');
    expect(await readN(a.client, 1)).toEqual(['marker']);
    expect(await readN(b.client, 1)).toEqual(['marker']);
    expect(hubs[0].stats.received).toBe(2);
    expect(hubs[1].stats.received).toBe(2);
    await waitFor(() => hubs[0].stats.forwarded === 2 && hubs[1].stats.forwarded === 2, 'forwarded counts');
    expect(hubs[0].stats.notForwarded).toBe(0);
  });

  test('the broker subscribes with the first local subscriber of a topic and unsubscribes with the last', async () => {
    const { brokers, hubs, a } = await twoProcesses();
    const [broker] = brokers;
    const hub = hubs[0];
    const second = await servers[0]!.open();
    hub.subscribe(a.server, 't');
    hub.subscribe(second.server, 't');
    hub.subscribe(a.server, 't');
    hub.unsubscribe(a.server, 't');
    expect(broker.calls).toEqual(['subscribe:t']);
    hub.unsubscribe(second.server, 't');
    expect(broker.calls).toEqual(['subscribe:t', 'unsubscribe:t']);
    // Leaving by closing counts too.
    hub.subscribe(a.server, 'u');
    hub.subscribe(a.server, 'v');
    const closed = once(a.server, 'close');
    await a.client.close();
    await closed;
    expect(broker.calls.slice(2).sort()).toEqual(['subscribe:u', 'subscribe:v', 'unsubscribe:u', 'unsubscribe:v']);
    // No subscriber anywhere: the publish is still forwarded (other processes may have some).
    expect(hub.publish('nobody-here', 'x')).toBe(0);
    expect(broker.calls.at(-1)).toBe('publish:nobody-here');
  });

  test('foreign, unknown-version and malformed payloads are counted and ignored', async () => {
    const { bus, brokers, hubs, b } = await twoProcesses();
    hubs[1].subscribe(b.server, 'room');
    await waitFor(() => brokers[1].channels.has('room'), 'the subscription');
    const good = encodeEnvelope(Buffer.alloc(8, 1), 'text', true, 'room', Buffer.from('good'));
    const version = Buffer.from(good);
    version[2] = 99;
    const badUtf8 = encodeEnvelope(Buffer.alloc(8, 1), 'text', true, 'room', Buffer.from([0xc3, 0x28]));
    bus.deliver('room', Buffer.from('{"json":"from someone else"}'));
    bus.deliver('room', version);
    bus.deliver('room', good.subarray(0, 10));
    bus.deliver('room', badUtf8);
    bus.deliver('room', good);
    expect(await readN(b.client, 1)).toEqual(['good']);
    expect(hubs[1].stats.rejected).toEqual({ foreign: 1, version: 1, malformed: 2 });
    expect(hubs[1].stats.received).toBe(1);
  });

  test("down: local delivery goes on, publishes are counted as not forwarded; 'broker-up' resumes forwarding", async () => {
    const { bus, brokers, hubs, a, b } = await twoProcesses();
    hubs[0].subscribe(a.server, 'room');
    hubs[1].subscribe(b.server, 'room');
    await waitFor(() => brokers.every((x) => x.channels.has('room')), 'both brokers to subscribe');
    const downs: Error[] = [];
    let ups = 0;
    hubs[0].on('broker-down', (err) => downs.push(err));
    hubs[0].on('broker-up', () => ups++);
    bus.goDown(new Error('connection lost'));
    bus.goDown(new Error('again'));
    expect(downs.map((e) => e.message)).toEqual(['connection lost']);
    const publishesBefore = brokers[0].calls.filter((c) => c.startsWith('publish')).length;
    expect(hubs[0].publish('room', 'while down')).toBe(1);
    expect(hubs[0].stats.notForwarded).toBe(1);
    // Not even handed to a broker that said it is down.
    expect(brokers[0].calls.filter((c) => c.startsWith('publish')).length).toBe(publishesBefore);
    expect(await readN(a.client, 1)).toEqual(['while down']);
    bus.comeBack();
    expect(ups).toBe(1);
    hubs[0].publish('room', 'after');
    expect(await readN(a.client, 1)).toEqual(['after']);
    expect(await readN(b.client, 1)).toEqual(['after']);
  });

  test("a rejected publish is counted and reported on 'error', never an unhandled rejection", async () => {
    const { brokers, hubs, a } = await twoProcesses();
    hubs[0].subscribe(a.server, 'room');
    const errors: Error[] = [];
    brokers[0].failPublishes = 2;
    hubs[0].publish('room', 'one');
    // Nobody listened for 'error' when it was refused: counted, no crash, no unhandled rejection.
    await waitFor(() => hubs[0].stats.notForwarded === 1, 'the first refusal');
    hubs[0].on('error', (err) => errors.push(err));
    hubs[0].publish('room', 'two');
    hubs[0].publish('room', 'three');
    expect(await readN(a.client, 3)).toEqual(['one', 'two', 'three']);
    await waitFor(() => hubs[0].stats.notForwarded === 2 && hubs[0].stats.forwarded === 1, 'the publish results');
    expect(errors.map((e) => e.message)).toEqual(['publish refused']);
  });

  test('close() closes the broker; messages arriving afterwards are ignored', async () => {
    const bus = new MemoryBus();
    const broker = bus.broker();
    const hub = new Hub({ broker });
    await hub.close();
    expect(broker.closed).toBe(true);
    expect(broker.calls).toEqual(['close']);
    broker.handler?.('room', encodeEnvelope(Buffer.alloc(8, 2), 'text', false, 'room', Buffer.from('late')));
    expect(hub.stats.received).toBe(0);
  });

  test('a broker whose methods throw synchronously does not break subscribe() or publish()', async () => {
    const bus = new MemoryBus();
    const broker = bus.broker();
    const boom = (): never => {
      throw new Error('sync throw');
    };
    broker.subscribe = boom;
    broker.publish = boom;
    const s = await startHubServer({ hub: { broker } });
    servers.push(s);
    const errors: string[] = [];
    s.wss.hub.on('error', (err) => errors.push(err.message));
    const a = await s.open();
    s.wss.hub.subscribe(a.server, 'x');
    expect(s.wss.hub.publish('x', 'still delivered')).toBe(1);
    expect(await readN(a.client, 1)).toEqual(['still delivered']);
    expect(errors).toEqual(['sync throw', 'sync throw']);
    expect(s.wss.hub.stats.notForwarded).toBe(1);
  });
});
