// Limits, both roles over both transports (over HTTP/2 the stream's flow control joins the backpressure):
// a long pipelined stream of large messages is echoed whole and in order, and a message over `maxPayload`
// fails the connection with 1009 (RFC 6455 §7.4.1: "a message that is too big for it to process") — as
// one frame, and as a fragmented message whose fragments each fit.
import { DEADLINE, OP, forEachRole, pattern, splitEven, useHarness, utf8Text } from './driver';

const KiB = 1024;
const LIMIT = 1024;

forEachRole((role, transport) => {
  describe('pipelining', () => {
    const h = useHarness(role, { transport });
    test('1,000 messages of 64 KiB, sent back to back, are echoed whole and in order', async () => {
      const peer = await h.peer();
      const count = 1000;
      const payloadOf = (i: number): Buffer => {
        const p = pattern(64 * KiB, i);
        p.writeUInt32BE(i, 0);
        return p;
      };
      const sending = (async () => {
        // In batches of 50 frames per write, without waiting for any echo.
        for (let i = 0; i < count; i += 50) {
          await peer.send(Array.from({ length: 50 }, (_, j) => peer.binary(payloadOf(i + j))));
        }
      })();
      for (let i = 0; i < count; i++) {
        const m = await peer.nextMessage(`echo #${i}`, 4 * DEADLINE);
        if (m.opcode !== OP.BINARY || !m.payload.equals(payloadOf(i))) {
          throw new Error(`Echo #${i} is wrong: opcode ${m.opcode}, ${m.payload.length} bytes, index ${m.payload.length >= 4 ? m.payload.readUInt32BE(0) : '?'}\n  ${peer.context}`);
        }
      }
      await sending;
      peer.expectInboxEmpty();
    }, 60_000);
  });

  describe('floods (backpressure must not lose, reorder or stall anything)', () => {
    const h = useHarness(role, { transport });
    test('20,000 pings of 125 bytes in one write → 20,000 pongs, in order', async () => {
      const peer = await h.peer();
      const n = 20_000;
      const payloadOf = (i: number): Buffer => {
        const p = pattern(125, i);
        p.writeUInt32BE(i, 0);
        return p;
      };
      await peer.send(Array.from({ length: n }, (_, i) => peer.ping(payloadOf(i))));
      for (let i = 0; i < n; i++) {
        const f = await peer.nextFrame(`pong #${i}`);
        if (f.opcode !== OP.PONG || !f.payload.equals(payloadOf(i))) throw new Error(`Pong #${i} is wrong\n  ${peer.context}`);
      }
    }, 60_000);
    test('100,000 one-byte messages in one write → 100,000 echoes, in order', async () => {
      const peer = await h.peer();
      const n = 100_000;
      await peer.send(Array.from({ length: n }, (_, i) => peer.binary(Buffer.from([i & 0xff]))));
      for (let i = 0; i < n; i++) {
        const f = await peer.nextFrame(`echo #${i}`);
        if (f.opcode !== OP.BINARY || f.payload.length !== 1 || f.payload[0] !== (i & 0xff)) throw new Error(`Echo #${i} is wrong\n  ${peer.context}`);
      }
    }, 60_000);
  });

  describe(`maxPayload = ${LIMIT}`, () => {
    const h = useHarness(role, { transport, maxPayload: LIMIT });
    const TYPES = [
      { type: 'text', opcode: OP.TEXT, make: utf8Text },
      { type: 'binary', opcode: OP.BINARY, make: (n: number) => pattern(n) },
    ] as const;

    test.each(TYPES)('a $type message of exactly maxPayload bytes is echoed (one frame and 4 fragments)', async ({ opcode, make }) => {
      const peer = await h.peer();
      const payload = make(LIMIT);
      await peer.send([peer.frame(opcode, payload), ...peer.fragments(opcode, splitEven(payload, 4))], 'random');
      await peer.expectEcho(opcode, payload);
      await peer.expectEcho(opcode, payload);
    });
    test.each(TYPES)('a $type frame of maxPayload + 1 bytes → 1009', async ({ opcode, make }) => {
      const peer = await h.peer();
      await peer.send(peer.frame(opcode, make(LIMIT + 1)));
      await peer.expectFailure(1009);
    });
    test.each(TYPES)('a $type frame of maxPayload + 1 bytes → 1009 from its header alone (no payload sent)', async ({ opcode }) => {
      const peer = await h.peer();
      const frame = peer.frame(opcode, Buffer.alloc(0), { declaredLength: LIMIT + 1 });
      await peer.send(frame);
      await peer.expectFailure(1009);
    });
    test.each(TYPES)('a fragmented $type message over maxPayload, every fragment under it → 1009', async ({ opcode, make }) => {
      const peer = await h.peer();
      await peer.send(peer.fragments(opcode, splitEven(make(4 * 300), 4)), 'random');
      await peer.expectFailure(1009);
    });
    test.each(TYPES)('a fragmented $type message fails as soon as the total passes maxPayload (no FIN sent)', async ({ opcode, make }) => {
      const peer = await h.peer();
      const pieces = splitEven(make(1200), 4);
      await peer.send(pieces.map((p, i) => peer.frame(i === 0 ? opcode : OP.CONT, p, { fin: false })));
      await peer.expectFailure(1009);
    });
    test('a fragmented message over maxPayload, after a valid echo and with pings between fragments → pongs, then 1009', async () => {
      const peer = await h.peer();
      await peer.send(peer.binary(pattern(LIMIT)));
      await peer.expectEcho(OP.BINARY, pattern(LIMIT));
      const [a, b, c] = peer.fragments(OP.BINARY, splitEven(pattern(1500), 3));
      await peer.send([a, peer.ping('1'), b, peer.ping('2'), c]);
      await peer.expectControl(OP.PONG, '1');
      await peer.expectControl(OP.PONG, '2');
      await peer.expectFailure(1009);
    });
  });

  describe('default maxPayload (64 MiB)', () => {
    const h = useHarness(role, { transport });
    test('a frame declaring 2^40 bytes → 1009 from its header', async () => {
      const peer = await h.peer();
      await peer.send(peer.binary(Buffer.alloc(0), { declaredLength: 2 ** 40 }));
      await peer.expectFailure(1009);
    });
    test('a frame declaring 64 MiB + 1 bytes → 1009 from its header', async () => {
      const peer = await h.peer();
      await peer.send(peer.binary(Buffer.alloc(0), { declaredLength: 64 * 1024 * 1024 + 1 }));
      await peer.expectFailure(1009);
    });
  });
});
