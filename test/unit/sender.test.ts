import { Duplex } from 'stream';
import { Frame } from '../../src/codec/frame';
import { FrameParser } from '../../src/codec/frame-parser';
import { firstHeaderByte, serializeFrame } from '../../src/codec/frame-serializer';
import { Sender } from '../../src/connection/sender';

/** An in-memory socket that records each buffer handed to it, write by write (a writev counts each chunk). */
class RecordingSocket extends Duplex {
  readonly writes: Buffer[][] = [];
  holdWrites = false;
  private held: Array<() => void> = [];

  constructor(highWaterMark = 16 * 1024) {
    super({ writableHighWaterMark: highWaterMark });
  }
  override _read(): void {
    /* nothing is ever read */
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes.push([Buffer.from(chunk)]);
    this.finish(cb);
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.writes.push(chunks.map((c) => Buffer.from(c.chunk)));
    this.finish(cb);
  }
  /** Completes the writes held back so far. */
  release(): void {
    for (const done of this.held.splice(0)) done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes.flat());
  }
  private finish(cb: () => void): void {
    if (this.holdWrites) this.held.push(cb);
    else cb();
  }
}

const host = { handleDrain: (): void => undefined };
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function expected(frames: Array<[number, Buffer]>): Buffer {
  return Buffer.concat(frames.flatMap(([opcode, payload]) => serializeFrame(firstHeaderByte(true, false, opcode), payload, false)));
}

function parse(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  new FrameParser({ requireMask: true }, (f) => {
    frames.push({ ...f, payload: Buffer.from(f.payload) });
  }).push(bytes);
  return frames;
}

describe('Sender', () => {
  test('the small frames of a tick reach the socket as one buffer, in order', async () => {
    const socket = new RecordingSocket();
    const sender = new Sender(socket, false, null, host);
    const frames: Array<[number, Buffer]> = Array.from({ length: 20 }, (_, i) => [i % 2 === 0 ? 0x1 : 0x2, Buffer.alloc(i * 37, i)]);
    for (const [opcode, payload] of frames) sender.send(opcode, payload, true, false);
    expect(socket.writes).toHaveLength(0);
    await tick();
    expect(socket.writes.map((w) => w.length)).toEqual([1]);
    expect(socket.writes[0][0].equals(expected(frames))).toBe(true);
  });

  test('a large frame between small ones keeps its place, its payload not copied into the run', async () => {
    const socket = new RecordingSocket(1 << 20);
    const sender = new Sender(socket, false, null, host);
    const frames: Array<[number, Buffer]> = [
      [0x2, Buffer.alloc(10, 1)],
      [0x2, Buffer.alloc(100_000, 2)],
      [0x2, Buffer.alloc(20, 3)],
    ];
    for (const [opcode, payload] of frames) sender.send(opcode, payload, true, false);
    sender.sendFrame(expected([[0x1, Buffer.from('shared')]]));
    await tick();
    expect(socket.writes).toHaveLength(1);
    // The first run ends with the large frame's header; the payload itself follows as its own chunk.
    expect(socket.writes[0].map((c) => c.length)).toEqual([12 + 10, 100_000, 22, 8]);
    expect(socket.bytes.equals(Buffer.concat([expected(frames), expected([[0x1, Buffer.from('shared')]])]))).toBe(true);
  });

  test('callbacks are called in order once the socket has taken the bytes', async () => {
    const socket = new RecordingSocket();
    socket.holdWrites = true;
    const sender = new Sender(socket, false, null, host);
    const calls: string[] = [];
    sender.send(0x9, Buffer.from('a'), true, false, () => calls.push('a'));
    sender.send(0x2, Buffer.alloc(5000), true, false, () => calls.push('big'));
    sender.send(0xa, Buffer.from('b'), true, false, () => calls.push('b'));
    sender.send(0xa, Buffer.from('c'), true, false, () => calls.push('c'));
    await tick();
    expect(calls).toEqual([]);
    socket.release();
    await tick();
    expect(calls).toEqual(['a', 'big', 'b', 'c']);
  });

  test('bufferedAmount counts the run; crossing the high-water mark sets needsDrain as frame-by-frame writes would', async () => {
    const socket = new RecordingSocket(1000);
    socket.holdWrites = true;
    const sender = new Sender(socket, false, null, host);
    sender.send(0x2, Buffer.alloc(300), true, false);
    expect(sender.bufferedAmount).toBe(304);
    expect(sender.needsDrain).toBe(false);
    sender.send(0x2, Buffer.alloc(300), true, false);
    sender.send(0x2, Buffer.alloc(300), true, false);
    expect(sender.needsDrain).toBe(false);
    sender.send(0x2, Buffer.alloc(300), true, false);
    expect(sender.bufferedAmount).toBe(4 * 304);
    expect(sender.needsDrain).toBe(true);
    const drained = new Promise<void>((resolve) => socket.once('drain', resolve));
    await tick();
    socket.release();
    await drained;
    expect(socket.bytes.length).toBe(4 * 304);
  });

  test('senders sharing the slab in one tick each write only their own frames', async () => {
    const a = new RecordingSocket();
    const b = new RecordingSocket();
    const senderA = new Sender(a, false, null, host);
    const senderB = new Sender(b, false, null, host);
    for (let i = 0; i < 50; i++) {
      senderA.send(0x2, Buffer.alloc(200, i), true, false);
      senderB.send(0x2, Buffer.alloc(100, 255 - i), true, false);
    }
    await tick();
    expect(a.bytes.equals(expected(Array.from({ length: 50 }, (_, i) => [0x2, Buffer.alloc(200, i)])))).toBe(true);
    expect(b.bytes.equals(expected(Array.from({ length: 50 }, (_, i) => [0x2, Buffer.alloc(100, 255 - i)])))).toBe(true);
  });

  test('a client masks small frames into the run, leaving the caller’s payloads untouched', async () => {
    const socket = new RecordingSocket();
    const sender = new Sender(socket, true, null, host);
    const payloads = [0, 1, 63, 64, 125, 126, 1000, 4096, 5000].map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)));
    const copies = payloads.map((p) => Buffer.from(p));
    for (const p of payloads) sender.send(0x2, p, true, false);
    await tick();
    expect(payloads.every((p, i) => p.equals(copies[i]))).toBe(true);
    const received = parse(socket.bytes).map((f) => f.payload);
    expect(received.map((p) => p.length)).toEqual(copies.map((p) => p.length));
    expect(received.every((p, i) => p.equals(copies[i]))).toBe(true);
  });

  test('end() sends the run before ending the socket', async () => {
    const socket = new RecordingSocket();
    const sender = new Sender(socket, false, null, host);
    sender.send(0x8, Buffer.from([0x03, 0xe8]), true, false);
    sender.end();
    await new Promise((resolve) => socket.once('finish', resolve));
    expect(socket.bytes).toEqual(expected([[0x8, Buffer.from([0x03, 0xe8])]]));
  });

  test('abort() fails the callbacks of a run not yet written, and nothing is written', async () => {
    const socket = new RecordingSocket();
    const sender = new Sender(socket, false, null, host);
    const results: Array<Error | null | undefined> = [];
    sender.send(0x9, Buffer.from('x'), true, false, (err) => results.push(err));
    sender.send(0x9, Buffer.from('y'), true, false, (err) => results.push(err));
    const failure = new Error('gone');
    sender.abort(failure);
    await tick();
    expect(results).toEqual([failure, failure]);
    expect(socket.writes).toHaveLength(0);
  });
});
