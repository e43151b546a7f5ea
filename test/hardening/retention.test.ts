// Views into socket chunks must not outlive their use (ws 8.22.2: a 4-byte masking key kept as a view
// pinned the whole 64 KiB chunk it arrived in). These tests watch the chunk's ArrayBuffer with a WeakRef
// through a real garbage collection, or measure the live heap across many connections, so a parser that
// kept a view fails them.
import { FrameParser } from '../../src/codec/frame-parser';
import { unmaskInChunk } from '../../src/codec/mask';
import { WebSocket } from '../../src/connection/websocket';
import { MemorySocket, clientFrame, gc, liveBytes, rawHeader, until, within } from '../fuzz/harness';

const KiB = 1024;

/** `size` bytes of unsolicited Pong frames (ignored by the receiver): filler that shares a chunk. */
function pongFiller(size: number): Buffer {
  const parts: Buffer[] = [];
  let left = size;
  while (left > 0) {
    // A frame is 6 bytes of header + mask, plus up to 125 of payload; keep >= 6 bytes for the last one.
    const n = left - 6 <= 125 ? left - 6 : Math.min(125, left - 6 - 6);
    parts.push(clientFrame(0xa, Buffer.alloc(n, 0x70)));
    left -= n + 6;
  }
  return Buffer.concat(parts);
}

/** Pushes a 64 KiB chunk (its own ArrayBuffer) built from `parts` and returns a WeakRef to its memory. */
function pushChunk(parser: FrameParser, parts: Buffer[]): WeakRef<ArrayBuffer> {
  const content = Buffer.concat(parts);
  const chunk = Buffer.alloc(content.length);
  content.copy(chunk);
  const ref = new WeakRef(chunk.buffer as ArrayBuffer);
  parser.push(chunk);
  return ref;
}

async function collected(ref: WeakRef<ArrayBuffer>): Promise<boolean> {
  // The masking code caches one lane view over the last buffer (<= 64 KiB) it unmasked in JS, process-wide:
  // a bounded, per-process cost, not a per-connection one. Unmask something else in JS to move it on (the
  // parser's path for small payloads, whatever addon is installed).
  const other = Buffer.alloc(64);
  unmaskInChunk(other, other.byteOffset, other.buffer, 0, 64, 0x04030201, other);
  // WeakRef targets stay alive until the current job ends.
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  return ref.deref() === undefined;
}

describe('the parser keeps no view of a chunk it has used', () => {
  const cases: Array<[string, () => { tail: Buffer; rest: Buffer; payload: Buffer }]> = [
    [
      'a masking key at the very end of the chunk',
      () => {
        const payload = Buffer.from('hello, world');
        const frame = clientFrame(0x2, payload);
        return { tail: frame.subarray(0, 6), rest: frame.subarray(6), payload };
      },
    ],
    [
      'half of a 64-bit length at the end of the chunk',
      () => {
        const payload = Buffer.alloc(70_000, 0x33);
        const frame = clientFrame(0x2, payload);
        return { tail: frame.subarray(0, 6), rest: frame.subarray(6), payload };
      },
    ],
    [
      'a header, key and 3,000 payload bytes at the end of the chunk',
      () => {
        const payload = Buffer.alloc(6000, 0x34);
        const frame = clientFrame(0x2, payload);
        return { tail: frame.subarray(0, 8 + 3000), rest: frame.subarray(8 + 3000), payload };
      },
    ],
  ];

  test.each(cases)('%s: the 64 KiB chunk is collectable, the frame still correct', async (_name, make) => {
    const { tail, rest, payload } = make();
    const frames: Buffer[] = [];
    const parser = new FrameParser({ requireMask: true }, (f) => {
      if (f.opcode === 0x2) frames.push(Buffer.from(f.payload));
    });
    const ref = pushChunk(parser, [pongFiller(64 * KiB - tail.length), tail]);
    expect(await collected(ref)).toBe(true);
    parser.push(Buffer.from(rest));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.equals(payload)).toBe(true);
  });
});

describe('many connections each holding a partial frame', () => {
  test('500 connections, each left with a 6-byte partial frame at the end of a 64 KiB chunk, hold < 8 KiB each', async () => {
    const n = 500;
    const sockets: MemorySocket[] = [];
    const conns: WebSocket[] = [];
    const filler = pongFiller(64 * KiB - 6);
    const before = liveBytes();
    for (let i = 0; i < n; i++) {
      const socket = new MemorySocket();
      const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: true });
      const chunk = Buffer.alloc(64 * KiB);
      filler.copy(chunk);
      rawHeader(0x82, 10n).copy(chunk, 64 * KiB - 6);
      socket.feed(chunk);
      sockets.push(socket);
      conns.push(ws);
    }
    await until(() => sockets.every((s) => s.readableLength === 0), 10_000, 'all chunks consumed');
    const perConnection = (liveBytes() - before) / n;
    // Pinned chunks would cost 64 KiB each.
    expect(perConnection).toBeLessThan(8 * KiB);
    for (const ws of conns) ws.terminate();
  }, 30_000);
});

describe('message fragments do not pin the chunks they arrived in', () => {
  test('a message assembled from 4 KiB fragments, each alone in a 64 KiB chunk of filler, costs about its bytes', async () => {
    const socket = new MemorySocket();
    const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: true });
    const got = ws.readMessage();
    const fragmentSize = 4 * KiB;
    const count = 256; // 1 MiB of message in 16 MiB of chunks
    const before = liveBytes();
    for (let i = 0; i < count; i++) {
      const fragment = clientFrame(i === 0 ? 0x2 : 0x0, Buffer.alloc(fragmentSize, i & 0xff), false);
      const chunk = Buffer.alloc(64 * KiB);
      fragment.copy(chunk);
      pongFiller(64 * KiB - fragment.length).copy(chunk, fragment.length);
      socket.feed(chunk);
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => socket.readableLength === 0, 10_000, 'all chunks consumed');
    const grown = liveBytes() - before;
    const messageBytes = fragmentSize * count;
    // The message holds 1 MiB; keeping each fragment as a view would pin 16 MiB of chunks (16x maxPayload
    // for a hostile peer, per connection).
    expect(grown).toBeLessThan(4 * messageBytes);
    socket.feed(clientFrame(0x0, Buffer.alloc(0), true));
    const m = await within(got, 5000, 'the message');
    expect(m.data.length).toBe(messageBytes);
    expect(m.data[fragmentSize * 255]).toBe(255);
    ws.terminate();
  }, 30_000);
});
