// Floods from peers that send without reading: pings (ws 8.23, undici) and slow readers.
import * as net from 'net';
import { WebSocket } from '../../src/connection/websocket';
import { closed, wsPair } from '../helpers/pair';
import { activeResources, clientFrame, expectNoLeakedResources, sleep, tcpPair, within } from '../fuzz/harness';

const MiB = 1024 * 1024;
let open: Array<WebSocket | net.Socket> = [];
let baseline: Record<string, number>;
beforeAll(() => {
  baseline = activeResources();
});
afterEach(() => {
  for (const x of open) (x instanceof WebSocket ? x.terminate() : x.destroy());
  open = [];
});
afterAll(async () => {
  await expectNoLeakedResources(baseline);
});

/** A server WebSocket and a raw client socket that never reads (no 'data' listener: paused). */
async function nonReader(options: ConstructorParameters<typeof WebSocket>[2] extends infer O ? Partial<O> : never = {}) {
  const { a, b } = await tcpPair();
  b.on('error', () => undefined);
  const server = new WebSocket(a, Buffer.alloc(0), { isServer: true, ...options });
  open.push(server, b);
  return { server, client: b };
}

/**
 * Writes `chunk` over and over, respecting the socket's own backpressure, until `maxBytes` are written,
 * the socket closes, or 'drain' does not come within `stallMs` (the peer stopped reading). Bounded.
 */
async function flood(socket: net.Socket, chunk: Buffer, maxBytes: number, stallMs = 750): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  while (written < maxBytes && !socket.destroyed) {
    const ok = socket.write(chunk);
    written += chunk.length;
    if (!ok) {
      const drained = await Promise.race([
        new Promise<boolean>((r) => socket.once('drain', () => r(true))),
        new Promise<boolean>((r) => socket.once('close', () => r(false))),
        sleep(stallMs).then(() => false),
      ]);
      if (!drained) return { written, stalled: !socket.destroyed };
    }
  }
  return { written, stalled: false };
}

function pings(payloadSize: number, count: number): Buffer {
  const one = clientFrame(0x9, Buffer.alloc(payloadSize, 0x50));
  return Buffer.concat(new Array<Buffer>(count).fill(one));
}

describe('ping floods', () => {
  test('125-byte pings from a peer that never reads: the server stops reading, buffers stay bounded, pongs are not queued without end', async () => {
    const { server, client } = await nonReader();
    let pingsSeen = 0;
    server.on('ping', () => pingsSeen++);
    let errored: Error | null = null;
    server.on('error', (e: Error) => (errored = e));
    const chunk = pings(125, 500); // ~64 KiB
    const result = await within(flood(client, chunk, 256 * MiB), 60_000, 'the flood');
    // The flooder got stalled by TCP backpressure: the server stopped reading because its pongs could not be flushed.
    expect(result.stalled).toBe(true);
    expect(result.written).toBeLessThan(64 * MiB);
    expect(pingsSeen).toBeLessThan(result.written / chunk.length * 500);
    // What the server holds for this peer is its socket buffer and a few pongs, not one pong per ping read.
    expect(server.bufferedAmount).toBeLessThan(256 * 1024);
    expect((server as unknown as { pendingPongs: number }).pendingPongs).toBeLessThan(1024);
    // Backpressure, not the flood cap, handled it: the connection is still open and healthy.
    expect(errored).toBeNull();
    expect(server.readyState).toBe('open');
  }, 90_000);

  test('a burst of tiny pings past MAX_PENDING_PONGS terminates the flooder with 1008', async () => {
    const { server, client } = await nonReader();
    let pingsSeen = 0;
    server.on('ping', () => pingsSeen++);
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    const serverClosed = closed(server);
    // Empty pings answer with 2-byte pongs: the socket buffer alone would let ~8,000 pile up per chunk.
    const result = await within(flood(client, pings(0, 10_000), 64 * MiB), 30_000, 'the flood');
    expect(await within(errored, 5000, 'the 1008')).toMatchObject({ closeCode: 1008 });
    const info = await within(serverClosed, 5000, 'the server to close');
    expect(info.wasClean).toBe(false);
    expect(pingsSeen).toBeLessThan(20_000);
    expect(result.written).toBeLessThan(64 * MiB);
  }, 60_000);

  test('a legitimate ping rate is answered, every ping', async () => {
    const { server, client } = await wsPair();
    open.push(server, client);
    let pongs = 0;
    client.on('pong', () => pongs++);
    void server.readMessage().catch(() => undefined);
    void client.readMessage().catch(() => undefined);
    for (let i = 0; i < 300; i++) {
      await within(client.ping(Buffer.from(`p${i}`)), 2000, 'a ping');
      if (i % 10 === 0) await sleep(1);
    }
    await within(
      (async () => {
        while (pongs < 300) await sleep(5);
      })(),
      5000,
      'all pongs',
    );
    expect(pongs).toBe(300);
    // Bursts of 200 back-to-back pings (well under the cap) are fine too.
    await Promise.all(Array.from({ length: 200 }, () => client.ping()));
    await within(
      (async () => {
        while (pongs < 500) await sleep(5);
      })(),
      5000,
      'the burst pongs',
    );
    expect(server.readyState).toBe('open');
  }, 30_000);
});

describe('slow readers', () => {
  test('writeMessage waits for a peer that never reads: the server does not buffer without bound', async () => {
    const { server } = await nonReader();
    const chunk = Buffer.alloc(MiB, 0x61);
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < 256; i++) {
        await server.writeMessage(chunk);
        written++;
      }
    })();
    writing.catch(() => undefined);
    await sleep(1500);
    // Loopback socket buffers take a few MiB; writeMessage then stops resolving.
    expect(written).toBeLessThan(48);
    expect(server.bufferedAmount).toBeGreaterThan(0);
    expect(server.bufferedAmount).toBeLessThan(4 * MiB);
    server.terminate();
    await within(writing.then(() => 'resolved', () => 'rejected'), 5000, 'the pending write to settle').then((how) =>
      expect(how).toBe('rejected'),
    );
  }, 30_000);

  test('maxBufferedAmount closes a peer that never reads with 1008, even for fire-and-forget writes', async () => {
    const { server } = await nonReader({ maxBufferedAmount: 2 * MiB });
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    const chunk = Buffer.alloc(256 * 1024);
    const results: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200 && server.readyState === 'open'; i++) {
      results.push(server.writeMessage(chunk).catch((e: unknown) => e));
      await new Promise((r) => setImmediate(r));
    }
    expect(await within(errored, 5000, 'the 1008')).toMatchObject({ closeCode: 1008 });
    // It stopped long before 200 x 256 KiB = 50 MiB were accepted.
    expect(results.length).toBeLessThan(100);
    await within(Promise.all(results), 10_000, 'every write to settle');
  }, 30_000);
});
