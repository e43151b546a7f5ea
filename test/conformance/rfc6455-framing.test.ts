// RFC 6455 §5.2 (base framing) and §5.3 (masking), both roles, over HTTP/1.1 and HTTP/2: payload lengths
// around every length encoding boundary, in one write, one byte per write and at random split points;
// masking rules; frames that come with the handshake (over HTTP/2: DATA right behind its HEADERS).
import { DEADLINE, OP, WRITE_MODES, encodeFrame, forEachRole, pattern, useHarness, utf8Text, type Chopping, type WriteMode } from './driver';

const MiB = 1024 * 1024;
const LENGTHS = [0, 1, 125, 126, 127, 128, 65535, 65536, 16 * MiB];
const TYPES = [
  ['text', OP.TEXT],
  ['binary', OP.BINARY],
] as const;

// One byte per write costs an event-loop turn per byte: every byte for frames up to 128 bytes; for
// longer ones the header goes byte by byte and the payload follows in one write ('header-bytes').
type Mode = WriteMode | 'header-bytes';
function modesFor(length: number): readonly Mode[] {
  return length <= 128 ? WRITE_MODES : ['whole', 'header-bytes', 'random'];
}
function chopping(mode: Mode, frame: Buffer): Chopping {
  if (mode !== 'header-bytes') return mode;
  const headerLength = frame.length - payloadLength(frame);
  return { cuts: Array.from({ length: headerLength }, (_, i) => i + 1) };
}
function payloadLength(frame: Buffer): number {
  const len7 = frame[1] & 0x7f;
  return len7 < 126 ? len7 : len7 === 126 ? frame.readUInt16BE(2) : Number(frame.readBigUInt64BE(2));
}

const CASES = TYPES.flatMap(([name, opcode]) =>
  LENGTHS.flatMap((length) => modesFor(length).map((mode) => ({ name, opcode, length, mode }))),
);

forEachRole((role, transport) => {
  describe('§5.2 framing: payload lengths (7-bit, 16-bit and 64-bit encodings)', () => {
    const h = useHarness(role, { transport });
    test.each(CASES)('$name, $length bytes, $mode writes → echoed', async ({ opcode, length, mode }) => {
      const peer = await h.peer();
      const payload = opcode === OP.TEXT ? utf8Text(length) : pattern(length, length);
      const frame = peer.frame(opcode, payload);
      await peer.send(frame, chopping(mode, frame));
      await peer.expectEcho(opcode, payload, length >= MiB ? 4 * DEADLINE : DEADLINE);
      peer.expectInboxEmpty();
    }, 60_000);

    test('several messages in one write are echoed in order', async () => {
      const peer = await h.peer();
      const lengths = [0, 125, 126, 65535, 65536, 3];
      await peer.send(lengths.map((n, i) => peer.frame(i % 2 ? OP.BINARY : OP.TEXT, i % 2 ? pattern(n, i) : utf8Text(n))));
      for (const [i, n] of lengths.entries()) await peer.expectEcho(i % 2 ? OP.BINARY : OP.TEXT, i % 2 ? pattern(n, i) : utf8Text(n));
    });

    test('a 64-bit length with the most significant bit set → 1002', async () => {
      const peer = await h.peer();
      const frame = peer.binary(Buffer.alloc(0));
      // Rewrite the header by hand: 127 and an 8-byte length 0x80000000_00000001.
      const header = Buffer.from([0x82, (frame[1] & 0x80) | 127, 0x80, 0, 0, 0, 0, 0, 0, 1]);
      await peer.send(Buffer.concat([header, frame.subarray(2)]));
      await peer.expectFailure(1002);
    });
  });

  describe('§5.1/§5.3 masking', () => {
    if (role === 'server') {
      const h = useHarness(role, { transport });
      test('an unmasked frame from the client → 1002', async () => {
        const peer = await h.peer();
        await peer.send(peer.text('Hello', { mask: false }));
        await peer.expectFailure(1002);
      });
      test('a valid echo, then an unmasked frame → 1002', async () => {
        const peer = await h.peer();
        await peer.send(peer.text('Hello'));
        await peer.expectEcho(OP.TEXT, 'Hello');
        await peer.send(peer.ping('x', { mask: false }));
        await peer.expectFailure(1002);
      });
      test('a zero masking key is as valid as any other', async () => {
        const peer = await h.peer();
        await peer.send(peer.text('zero key', { maskKey: Buffer.alloc(4) }));
        await peer.expectEcho(OP.TEXT, 'zero key');
      });
      test('the server never masks its frames (every frame received is parsed as unmasked-only)', async () => {
        const peer = await h.peer();
        await peer.send([peer.text('a'), peer.binary(pattern(300)), peer.ping('p')]);
        await peer.expectUnordered([
          { opcode: OP.TEXT, payload: 'a' },
          { opcode: OP.BINARY, payload: pattern(300) },
          { opcode: OP.PONG, payload: 'p' },
        ]);
      });
      describe(transport === 'h2' ? 'frames right behind the extended CONNECT' : 'frames right behind the upgrade request', () => {
        const early = useHarness(role, {
          transport,
          withRequest: Buffer.concat([
            encodeFrame(OP.TEXT, 'early', true, {}, Buffer.from([1, 2, 3, 4])),
            encodeFrame(OP.PING, 'early ping', true, {}, Buffer.from([5, 6, 7, 8])),
          ]),
        });
        const title =
          transport === 'h2'
            ? "frames in DATA sent with the CONNECT's HEADERS, before the answer, are read"
            : 'frames in the same write as the upgrade request (the upgrade head) are read';
        test(title, async () => {
          const peer = await early.peer();
          await peer.expectUnordered([
            { opcode: OP.TEXT, payload: 'early' },
            { opcode: OP.PONG, payload: 'early ping' },
          ]);
        });
      });
    } else {
      const h = useHarness(role, { transport, captureRaw: true });
      test('a masked frame from the server → 1002', async () => {
        const peer = await h.peer();
        await peer.send(peer.text('Hello', { mask: true }));
        await peer.expectFailure(1002);
      });
      test('a valid echo, then a masked frame → 1002', async () => {
        const peer = await h.peer();
        await peer.send(peer.binary(pattern(10)));
        await peer.expectEcho(OP.BINARY, pattern(10));
        await peer.send(peer.ping('x', { mask: true }));
        await peer.expectFailure(1002);
      });
      test('the client masks every frame, each with its own key', async () => {
        const peer = await h.peer();
        const messages = Array.from({ length: 20 }, (_, i) => pattern(8 + i, i));
        await peer.send(messages.map((m) => peer.binary(m)));
        for (const m of messages) await peer.expectEcho(OP.BINARY, m);
        await peer.send(peer.ping('ping'));
        await peer.expectControl(OP.PONG, 'ping');
        // Walk the raw bytes: every header has the MASK bit; collect the keys.
        const raw = Buffer.concat(peer.raw);
        const keys = new Set<string>();
        let pos = 0;
        let frames = 0;
        while (pos < raw.length) {
          const b1 = raw[pos + 1];
          expect({ frame: frames, masked: (b1 & 0x80) !== 0 }).toEqual({ frame: frames, masked: true });
          let len = b1 & 0x7f;
          let p = pos + 2;
          if (len === 126) {
            len = raw.readUInt16BE(p);
            p += 2;
          } else if (len === 127) {
            len = Number(raw.readBigUInt64BE(p));
            p += 8;
          }
          keys.add(raw.subarray(p, p + 4).toString('hex'));
          pos = p + 4 + len;
          frames++;
        }
        expect(frames).toBe(21);
        // RFC 6455 §5.3: a fresh, unpredictable key per frame. 21 random 32-bit keys never all collide.
        expect(keys.size).toBeGreaterThan(15);
      });
      describe(transport === 'h2' ? "frames right behind the ':status' 200" : 'frames right behind the 101', () => {
        const early = useHarness(role, {
          transport,
          afterHandshake: (peer) => Buffer.concat([peer.text('early'), peer.ping('early ping')]),
        });
        const title =
          transport === 'h2'
            ? "frames in DATA sent in the same write as the ':status' 200 HEADERS are read"
            : 'frames in the same TCP segment as the 101 answer are read';
        test(title, async () => {
          const peer = await early.peer();
          await peer.expectUnordered([
            { opcode: OP.TEXT, payload: 'early' },
            { opcode: OP.PONG, payload: 'early ping' },
          ]);
        });
      });
    }
  });
});

