// FrameEncoder as a stream: frames written together are serialized in batches (one push per batch), in order,
// with backpressure from the readable side, and an invalid frame in the middle of a batch fails the stream
// after the frames before it were encoded.
import * as fc from 'fast-check';
import { Readable, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { FrameEncoder, FrameParser, Opcode, type Frame, type FrameInput } from '../../src';

function parseAll(bytes: Buffer, masked: boolean): Frame[] {
  const frames: Frame[] = [];
  const parser = new FrameParser({ requireMask: masked, maxPayload: 1 << 24 }, (frame) => {
    frames.push({ ...frame, payload: Buffer.from(frame.payload) });
  });
  parser.push(Buffer.from(bytes));
  return frames;
}

const frameArb = fc.record({
  opcode: fc.constantFrom(Opcode.Text, Opcode.Binary, Opcode.Continuation),
  fin: fc.boolean(),
  // Around the size at which an unmasked payload is pushed on its own instead of copied.
  payload: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 2000, max: 70_000 }).map((n) => new Uint8Array(n).fill(n & 0xff))),
});

describe('FrameEncoder as a stream', () => {
  test.each([false, true])('frames written in one go come out whole and in order (mask %s)', async (mask) => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 40 }), async (inputs) => {
        const encoder = new FrameEncoder({ mask });
        const out: Buffer[] = [];
        encoder.on('data', (b: Buffer) => out.push(b));
        const ended = new Promise((resolve) => encoder.on('end', resolve));
        const originals = inputs.map((f) => Buffer.from(f.payload));
        for (const f of inputs) encoder.write(f);
        encoder.end();
        await ended;
        const frames = parseAll(Buffer.concat(out), mask);
        expect(frames.map((f) => [f.opcode, f.fin, Buffer.from(f.payload).toString('hex')])).toEqual(
          inputs.map((f) => [f.opcode, f.fin, Buffer.from(f.payload).toString('hex')]),
        );
        // The caller's payloads are never mutated.
        inputs.forEach((f, i) => expect(Buffer.from(f.payload).equals(originals[i])).toBe(true));
      }),
      { numRuns: 60 },
    );
  });

  test('small frames queued behind each other leave in one push', async () => {
    const encoder = new FrameEncoder({ mask: true });
    const pushes: number[] = [];
    encoder.on('data', (b: Buffer) => pushes.push(b.length));
    // A producer that respects backpressure: up to the writable side's high-water mark (128 frames).
    let accepted = 0;
    while (encoder.write({ opcode: Opcode.Binary, payload: Buffer.alloc(16, 1) })) accepted++;
    await new Promise((resolve) => encoder.once('drain', resolve));
    // The first frame waited a tick for the others; all of them were serialized together.
    expect(pushes).toEqual([(accepted + 1) * (2 + 4 + 16)]);
  });

  test('a batch of large masked frames is pushed in segments of about 64 KiB, never splitting a frame', async () => {
    const encoder = new FrameEncoder({ mask: true });
    const pushes: number[] = [];
    encoder.on('data', (b: Buffer) => pushes.push(b.length));
    for (let i = 0; i < 40; i++) encoder.write({ opcode: Opcode.Binary, payload: Buffer.alloc(5000, i) });
    encoder.end();
    await new Promise((resolve) => encoder.on('end', resolve));
    const frame = 4 + 4 + 5000;
    expect(pushes.reduce((a, b) => a + b, 0)).toBe(40 * frame);
    expect(pushes.length).toBeGreaterThan(1);
    for (const n of pushes) {
      expect(n % frame).toBe(0);
      expect(n).toBeLessThan(64 * 1024 + frame);
    }
  });

  test('bytes already pushed are never overwritten by later batches (segments share a slab, never reused)', async () => {
    const encoder = new FrameEncoder({ mask: false });
    const pushes: Buffer[] = [];
    encoder.on('data', (b: Buffer) => pushes.push(b));
    // Far more than one slab's worth (1 MiB), in many batches, each frame filled with its own byte.
    for (let batch = 0; batch < 64; batch++) {
      for (let i = 0; i < 20; i++) encoder.write({ opcode: Opcode.Binary, payload: Buffer.alloc(1000, (batch * 20 + i) & 0xff) });
      await new Promise((resolve) => setImmediate(resolve));
    }
    encoder.end();
    await new Promise((resolve) => encoder.on('end', resolve));
    const frames = parseAll(Buffer.concat(pushes), false);
    expect(frames).toHaveLength(64 * 20);
    frames.forEach((f, n) => expect(f.payload.equals(Buffer.alloc(1000, n & 0xff))).toBe(true));
    // Segments are views of a slab, not buffers of their own.
    expect(pushes.some((b) => b.buffer.byteLength > b.length)).toBe(true);
  });

  test('an unmasked payload of 2 KiB or more is pushed as it is, its header with the frames before it', async () => {
    const encoder = new FrameEncoder();
    const pushes: Buffer[] = [];
    encoder.on('data', (b: Buffer) => pushes.push(b));
    const big = Buffer.alloc(4096, 7);
    encoder.write({ opcode: Opcode.Text, payload: Buffer.from('a') });
    encoder.write({ opcode: Opcode.Binary, payload: big });
    encoder.write({ opcode: Opcode.Binary, payload: big });
    encoder.write({ opcode: Opcode.Text, payload: Buffer.from('b') });
    encoder.end();
    await new Promise((resolve) => encoder.on('end', resolve));
    // The small frame before it with the big frame's header, the payload itself (not copied); the next big
    // frame's header alone (nothing before it to ride with), its payload; the last frame.
    expect(pushes.map((b) => b.length)).toEqual([3 + 4, 4096, 4, 4096, 3]);
    expect(pushes[1]).toBe(big);
    expect(pushes[3]).toBe(big);
    expect(parseAll(Buffer.concat(pushes), false).map((f) => f.payload.length)).toEqual([1, 4096, 4096, 1]);
  });

  test('backpressure: a reader that stops reading stops the writes, and resuming delivers everything', async () => {
    const encoder = new FrameEncoder();
    const payload = Buffer.alloc(1000, 3);
    let written = 0;
    while (encoder.write({ opcode: Opcode.Binary, payload }) && written < 10_000) written++;
    // Nothing reads: the readable side fills to its high-water mark and the writable side then stops too.
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBeLessThan(300);
    expect(encoder.writableNeedDrain).toBe(true);
    const total = written + 1;
    let bytes = 0;
    encoder.on('data', (b: Buffer) => (bytes += b.length));
    encoder.end();
    await new Promise((resolve) => encoder.on('end', resolve));
    expect(bytes).toBe(total * (4 + 1000));
  });

  test.each([
    ['masked', true, 5000],
    ['unmasked', false, 100_000],
  ])('backpressure inside a batch (%s): a full readable side stops the batch between segments, reading resumes it', async (_name, mask, size) => {
    const encoder = new FrameEncoder({ mask });
    const count = 40;
    const inputs = Array.from({ length: count }, (_, i) => ({ opcode: Opcode.Binary, payload: Buffer.alloc(size, i) }));
    // All written in one tick: one batch, which is far larger than the readable side's high-water mark.
    for (const f of inputs) encoder.write(f);
    encoder.end();
    await new Promise((resolve) => setImmediate(resolve));
    const frame = size + (size < 0x10000 ? 4 : 10) + (mask ? 4 : 0);
    // Nothing reads: what waits in the readable buffer is at most one segment (or one frame) past the mark.
    expect(encoder.readableLength).toBeGreaterThan(0);
    expect(encoder.readableLength).toBeLessThanOrEqual(encoder.readableHighWaterMark + Math.max(64 * 1024, frame));
    const out: Buffer[] = [];
    encoder.on('data', (b: Buffer) => out.push(b));
    await new Promise((resolve) => encoder.on('end', resolve));
    const frames = parseAll(Buffer.concat(out), mask);
    expect(frames.length).toBe(count);
    frames.forEach((f, i) => expect(Buffer.from(f.payload).equals(inputs[i].payload)).toBe(true));
  });

  test('in a pipeline, from a Readable of frames to a Writable of bytes', async () => {
    const frames: FrameInput[] = Array.from({ length: 500 }, (_, i) => ({ opcode: Opcode.Binary, payload: Buffer.alloc(i % 300, i & 0xff) }));
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from(frames),
      new FrameEncoder({ mask: true }),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          callback();
        },
      }),
    );
    const decoded = parseAll(Buffer.concat(chunks), true);
    expect(decoded.length).toBe(500);
    decoded.forEach((f, i) => expect(Buffer.from(f.payload).equals(Buffer.from(frames[i].payload as Uint8Array))).toBe(true));
    // Batches, not a push per frame.
    expect(chunks.length).toBeLessThan(250);
  });

  test('an invalid frame in a batch: the frames before it are encoded, then the stream fails with a TypeError', async () => {
    const encoder = new FrameEncoder();
    const out: Buffer[] = [];
    encoder.on('data', (b: Buffer) => out.push(b));
    const failed = new Promise<Error>((resolve) => encoder.on('error', resolve));
    encoder.write({ opcode: Opcode.Text, payload: Buffer.from('one') });
    encoder.write({ opcode: Opcode.Text, payload: Buffer.from('two') });
    encoder.write({ opcode: 0x3, payload: Buffer.from('reserved') });
    encoder.write({ opcode: Opcode.Text, payload: Buffer.from('never') });
    const err = await failed;
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toMatch(/reserved/);
    expect(parseAll(Buffer.concat(out), false).map((f) => Buffer.from(f.payload).toString())).toEqual(['one', 'two']);
  });
});
