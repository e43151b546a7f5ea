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
