import * as fc from 'fast-check';
import { FrameParser, Opcode, WebSocketError, firstHeaderByte, serializeFrame } from '../../src';
import { decodeChunks, encodeFrames, splitAt } from '../helpers/frames';

// Payload sizes straddling every length-encoding boundary.
const payloadArb = fc
  .oneof(
    fc.constantFrom(0, 1, 124, 125, 126, 127, 65535, 65536, 65537),
    fc.integer({ min: 0, max: 300 }),
  )
  .chain((size) => fc.uint8Array({ minLength: size, maxLength: size }).map((a) => Buffer.from(a)));

const dataFrameArb = fc.record({
  fin: fc.boolean(),
  rsv1: fc.constant(false),
  opcode: fc.constantFrom(Opcode.Continuation, Opcode.Text, Opcode.Binary),
  payload: payloadArb,
});
const controlFrameArb = fc.record({
  fin: fc.constant(true),
  rsv1: fc.constant(false),
  opcode: fc.constantFrom(Opcode.Close, Opcode.Ping, Opcode.Pong),
  payload: fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)),
});
const framesArb = fc.array(fc.oneof(dataFrameArb, controlFrameArb), { minLength: 1, maxLength: 6 });

describe('codec properties', () => {
  test.each([false, true])('encode → split anywhere → decode is the identity (masked: %s)', async (masked) => {
    await fc.assert(
      fc.asyncProperty(framesArb, fc.array(fc.nat(), { maxLength: 12 }), async (frames, cuts) => {
        const wire = await encodeFrames(frames, { mask: masked });
        const chunks = splitAt(wire, cuts.map((c) => c % (wire.length + 1)));
        const decoded = await decodeChunks(chunks, { requireMask: masked });
        expect(decoded.length).toBe(frames.length);
        decoded.forEach((f, i) => {
          expect(f.fin).toBe(frames[i].fin);
          expect(f.opcode).toBe(frames[i].opcode);
          expect(f.payload.equals(frames[i].payload)).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });

  test('parsers that run inside each other, or pause and resume after another ran, each see their own chunk', async () => {
    await fc.assert(
      fc.asyncProperty(framesArb, framesArb, fc.nat(5), async (framesA, framesB, pauseAt) => {
        const wireA = await encodeFrames(framesA, { mask: true });
        const wireB = await encodeFrames(framesB, { mask: true });
        // Each wire padded into a larger chunk at an odd offset, as a pooled or sliced socket read can be.
        const inChunk = (wire: Buffer, shift: number): Buffer => {
          const backing = Buffer.alloc(wire.length + shift + 5, 0xee);
          wire.copy(backing, shift);
          return backing.subarray(shift, shift + wire.length);
        };
        const gotA: Buffer[] = [];
        const gotB: Buffer[] = [];
        const parserB = new FrameParser({ requireMask: true, maxPayload: 1 << 20 }, (f) => {
          gotB.push(Buffer.from(f.payload));
        });
        let fedB = false;
        const parserA = new FrameParser({ requireMask: true, maxPayload: 1 << 20 }, (f) => {
          gotA.push(Buffer.from(f.payload));
          // In A's handler, B parses a whole chunk of its own; and A pauses after frame `pauseAt`.
          if (!fedB) {
            fedB = true;
            parserB.push(inChunk(wireB, 3));
          }
          return gotA.length - 1 !== pauseAt;
        });
        let done = parserA.push(inChunk(wireA, 1));
        while (!done) {
          // Another parser runs while A is paused, then A resumes on its held chunk.
          new FrameParser({ requireMask: true }, () => undefined).push(inChunk(await encodeFrames([{ opcode: Opcode.Ping, payload: Buffer.alloc(40, 9) }], { mask: true }), 2));
          done = parserA.resume();
        }
        expect(gotA.map((b) => b.toString('hex'))).toEqual(framesA.map((f) => f.payload.toString('hex')));
        expect(gotB.map((b) => b.toString('hex'))).toEqual(framesB.map((f) => f.payload.toString('hex')));
      }),
      { numRuns: 150 },
    );
  });

  test('decoding one byte at a time equals decoding at once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(controlFrameArb, { minLength: 1, maxLength: 4 }), async (frames) => {
        const wire = await encodeFrames(frames, { mask: true });
        const bytewise = await decodeChunks([...wire].map((b) => Buffer.from([b])), { requireMask: true });
        expect(bytewise.map((f) => f.payload.toString('hex'))).toEqual(frames.map((f) => f.payload.toString('hex')));
      }),
      { numRuns: 100 },
    );
  });

  test('the shortest length encoding is always used', () => {
    for (const [size, headerLength] of [[125, 2], [126, 4], [65535, 4], [65536, 10]] as const) {
      const [header] = serializeFrame(firstHeaderByte(true, false, Opcode.Binary), Buffer.alloc(size), false);
      expect(header.length).toBe(headerLength);
    }
  });

  test('random bytes end in frames or a WebSocketError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (bytes, cuts, role) => {
        const parser = new FrameParser({ maxPayload: 1 << 20, requireMask: role }, () => undefined);
        try {
          for (const chunk of splitAt(Buffer.from(bytes), cuts.map((c) => c % (bytes.length + 1)))) parser.push(chunk);
        } catch (err) {
          expect(err).toBeInstanceOf(WebSocketError);
          expect([1002, 1009]).toContain((err as WebSocketError).closeCode);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
