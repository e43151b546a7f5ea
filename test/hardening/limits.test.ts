// Size and count limits against hostile peers: every test measures what the defence bounds (memory,
// close codes, counts), so it fails if the defence is removed, not merely if something crashes.
import * as zlib from 'zlib';
import { WebSocket } from '../../src/connection/websocket';
import { PerMessageDeflate } from '../../src/extensions/permessage-deflate';
import {
  MemorySocket,
  activeResources,
  clientFrame,
  expectNoLeakedResources,
  liveBytes,
  rawClientPair,
  rawHeader,
  sleep,
  until,
  within,
} from '../fuzz/harness';

const MiB = 1024 * 1024;
let open: Array<{ terminate(): void } | { destroy(): void }> = [];
let baseline: Record<string, number>;
beforeAll(() => {
  baseline = activeResources();
});
afterEach(() => {
  for (const x of open) ('terminate' in x ? x.terminate() : x.destroy());
  open = [];
});
afterAll(async () => {
  await expectNoLeakedResources(baseline);
});

async function raw(options: Parameters<typeof rawClientPair>[0] = {}) {
  const p = await rawClientPair(options);
  open.push(p.server, p.client);
  return p;
}

/** `n` masked fragments of `size` bytes each (zero mask key: fast to build, still masked on the wire). */
function fragments(n: number, size: number, first: boolean, fin: boolean): Buffer {
  const head = size < 126 ? 2 : 4;
  const frameLength = head + 4 + size;
  const out = Buffer.alloc(n * frameLength, 0x61);
  for (let i = 0; i < n; i++) {
    const at = i * frameLength;
    const opcode = first && i === 0 ? 0x2 : 0x0;
    out[at] = (fin && i === n - 1 ? 0x80 : 0) | opcode;
    if (head === 2) out[at + 1] = 0x80 | size;
    else {
      out[at + 1] = 0x80 | 126;
      out.writeUInt16BE(size, at + 2);
    }
    out.writeUInt32BE(0, at + head); // mask key 0
  }
  return out;
}

describe('64-bit payload lengths (gorilla CVE-2020-27813)', () => {
  test.each([
    ['top bit set (2^63)', 1002, 1n << 63n],
    ['top bit set, all ones', 1002, (1n << 64n) - 1n],
    ['2^63 - 1', 1009, (1n << 63n) - 1n],
    ['2^53 (past exact doubles)', 1009, 1n << 53n],
    ['2^53 + 1', 1009, (1n << 53n) + 1n],
    ['2^32 + 5 (a high word that must not be dropped)', 1009, (1n << 32n) + 5n],
  ])('%s → Close %i from the header alone, nothing allocated', async (_name, code, length) => {
    const { server, client, sink } = await raw();
    const before = liveBytes();
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    client.write(rawHeader(0x82, length));
    await within(until(() => sink.closeCode() !== null, 2000, 'a Close frame'), 3000, 'close');
    expect(sink.closeCode()).toBe(code);
    expect(await errored).toMatchObject({ closeCode: code });
    expect(liveBytes() - before).toBeLessThan(4 * MiB);
  });
});

describe('counts, not only bytes', () => {
  test('200,000 one-byte fragments of one message cost about their bytes, then 1009 past maxPayload', async () => {
    const maxPayload = 256 * 1024;
    const { server, client, sink } = await raw({ maxPayload });
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    const before = liveBytes();
    let flood: Buffer | null = fragments(200_000, 1, true, false);
    client.write(flood);
    flood = null;
    // A ping after the flood: its pong proves every fragment before it was parsed and accumulated.
    client.write(clientFrame(0x9, 'probe'));
    await within(until(() => sink.count(0xa) === 1, 10_000, 'the pong'), 12_000, 'pong');
    const grown = liveBytes() - before;
    // 200,000 payload bytes are held. A Buffer object per fragment would cost ~100 bytes each (20 MB+).
    expect(grown).toBeLessThan(3 * MiB);
    expect(server.readyState).toBe('open');

    // 62,145 more bytes are fine (exactly maxPayload); the next one is not.
    client.write(fragments(maxPayload - 200_000, 1, false, false));
    client.write(fragments(1, 1, false, false));
    await within(until(() => sink.closeCode() !== null, 10_000, 'Close 1009'), 12_000, 'close');
    expect(sink.closeCode()).toBe(1009);
    expect(await errored).toMatchObject({ closeCode: 1009 });
  }, 30_000);

  test('a frame arriving in 200,000 one-byte TCP chunks costs about its bytes', async () => {
    const socket = new MemorySocket();
    const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: true });
    const payload = Buffer.alloc(200_000, 0x41);
    const wire = clientFrame(0x2, payload);
    const got = ws.readMessage();
    const before = liveBytes();
    // Every chunk has its own ArrayBuffer: a parser that kept the views would keep 200,000 of them.
    for (let i = 0; i < wire.length - 1; i++) {
      const chunk = Buffer.allocUnsafeSlow(1);
      chunk[0] = wire[i] as number;
      socket.feed(chunk);
      if (i % 5000 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setImmediate(r));
    await until(() => socket.readableLength === 0, 5000, 'the chunks to be consumed');
    const grown = liveBytes() - before;
    expect(grown).toBeLessThan(3 * MiB);
    const last = Buffer.allocUnsafeSlow(1);
    last[0] = wire[wire.length - 1] as number;
    socket.feed(last);
    const m = await within(got, 5000, 'the message');
    expect(m.data.equals(payload)).toBe(true);
    ws.terminate();
  }, 30_000);

  test('a frame announcing 32 MiB holds about the bytes that arrived, not the announced length', async () => {
    const socket = new MemorySocket();
    const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: true, maxPayload: 64 * MiB });
    const payload = Buffer.alloc(32 * MiB, 0x42);
    const wire = clientFrame(0x2, payload);
    const got = ws.readMessage();
    const before = liveBytes();
    // The first 6 MiB (under a quarter): the payload buffer must not be allocated from the header's length yet.
    const sent = 6 * MiB;
    for (let i = 0; i < sent; i += 64 * 1024) socket.feed(Buffer.from(wire.subarray(i, Math.min(i + 64 * 1024, sent))));
    await until(() => socket.readableLength === 0, 5000, 'the chunks to be consumed');
    expect(liveBytes() - before).toBeLessThan(16 * MiB);
    // The rest: once a quarter has arrived it is assembled in one buffer, and the message is intact.
    for (let i = sent; i < wire.length; i += 64 * 1024) socket.feed(Buffer.from(wire.subarray(i, i + 64 * 1024)));
    const m = await within(got, 5000, 'the message');
    expect(m.data.length).toBe(payload.length);
    expect(m.data.equals(payload)).toBe(true);
    ws.terminate();
  }, 30_000);

  test('a 4 MiB message in 65,536 fragments of 64 bytes is accepted (Autobahn 9.x limits; ws caps fragments)', async () => {
    const { server, client } = await raw();
    const n = 65_536;
    const wire = fragments(n, 64, true, true);
    // Distinct content so order errors show: fragment i is filled with i & 0xff.
    for (let i = 0; i < n; i++) wire.fill(i & 0xff, i * 70 + 6, i * 70 + 70);
    client.write(wire);
    const m = await within(server.readMessage(), 20_000, 'the 4 MiB message');
    expect(m.data.length).toBe(4 * MiB);
    for (let i = 0; i < n; i += 997) expect(m.data[i * 64]).toBe(i & 0xff);
    expect(server.readyState).toBe('open');
  }, 30_000);
});

describe('inflated size (zip bombs)', () => {
  test('a fragmented bomb inflating to 64 MiB against maxPayload 1 MiB: 1009, memory bounded', async () => {
    const deflate = new PerMessageDeflate(
      { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
      {},
      true,
    );
    const { server, client, sink } = await raw({ maxPayload: MiB, deflate });
    const bomb = zlib.deflateRawSync(Buffer.alloc(64 * MiB), { flush: zlib.constants.Z_SYNC_FLUSH });
    expect(bomb.length).toBeLessThan(128 * 1024);
    const errored = new Promise<Error>((resolve) => server.once('error', resolve));
    const before = liveBytes();
    // 1 KiB fragments: each inflates to ~1 MiB, so only the sum across fragments can catch it.
    const pieces: Buffer[] = [];
    for (let at = 0; at < bomb.length; at += 1024) {
      const first = at === 0;
      const fin = at + 1024 >= bomb.length;
      pieces.push(clientFrame(first ? 0x2 : 0x0, bomb.subarray(at, at + 1024), fin, first));
    }
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
    client.write(Buffer.concat(pieces));
    await within(until(() => sink.closeCode() !== null, 10_000, 'Close 1009'), 12_000, 'close');
    clearInterval(sampler);
    expect(sink.closeCode()).toBe(1009);
    expect(await errored).toMatchObject({ closeCode: 1009 });
    expect(liveBytes() - before).toBeLessThan(8 * MiB);
    // Never anywhere near the 64 MiB the bomb expands to.
    expect(peak - process.memoryUsage().arrayBuffers).toBeLessThan(24 * MiB);
    await sleep(10);
  }, 30_000);
});
