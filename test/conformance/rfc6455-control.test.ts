// RFC 6455 §5.5.2/§5.5.3 Ping and Pong, both roles over both transports: every Ping is answered by a Pong with the same
// payload (0–125 bytes, any bytes), an over-long Ping fails the connection, an unsolicited Pong is
// ignored, pings are answered in order, and however the bytes are chopped.
import { OP, WRITE_MODES, forEachRole, pattern, useHarness } from './driver';

const SIZES = [0, 1, 2, 10, 31, 62, 63, 64, 100, 123, 124, 125];

/** Printable ASCII of `n` bytes. */
const ascii = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => 0x21 + (i % 94)));
/** Binary payloads: every byte value across the sizes, NUL and 0xFF included. */
const binary = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 53 + 0xff) & 0xff));

const PAYLOADS = [
  ...SIZES.map((n) => ({ name: `${n}-byte text payload`, payload: ascii(n) })),
  ...[1, 2, 64, 125].map((n) => ({ name: `${n}-byte binary payload`, payload: binary(n) })),
  { name: '125 bytes 0x00', payload: Buffer.alloc(125, 0) },
  { name: '125 bytes 0xff', payload: Buffer.alloc(125, 0xff) },
  { name: 'invalid UTF-8 (pings are not text)', payload: Buffer.from([0xc0, 0x80, 0xff, 0xed, 0xa0, 0x80]) },
];

const PING_CASES = PAYLOADS.flatMap((p) => WRITE_MODES.map((mode) => ({ ...p, mode })));

forEachRole((role, transport) => {
  const h = useHarness(role, { transport });

  describe('§5.5.2 Ping → Pong with the same payload', () => {
    test.each(PING_CASES)('$name, $mode writes', async ({ payload, mode }) => {
      const peer = await h.peer();
      await peer.send(peer.ping(payload), mode);
      await peer.expectControl(OP.PONG, payload);
      // The connection is still usable.
      await peer.send(peer.text('after'));
      await peer.expectEcho(OP.TEXT, 'after');
    });

    test.each(WRITE_MODES)('10 pings in a row → 10 pongs, in order (%s writes)', async (mode) => {
      const peer = await h.peer();
      const payloads = Array.from({ length: 10 }, (_, i) => `ping-${i}`);
      await peer.send(payloads.map((p) => peer.ping(p)), mode);
      for (const p of payloads) await peer.expectControl(OP.PONG, p);
      peer.expectInboxEmpty();
    });

    test('pings interleaved with messages: each ping answered, each message echoed', async () => {
      const peer = await h.peer();
      await peer.send([peer.ping('1'), peer.text('a'), peer.ping('2'), peer.binary(pattern(200)), peer.ping('3')], 'random');
      const pongs: string[] = [];
      const messages: string[] = [];
      for (let i = 0; i < 5; i++) {
        const f = await peer.nextFrame();
        if (f.opcode === OP.PONG) pongs.push(f.payload.toString());
        else messages.push(`${f.opcode}:${f.payload.length}`);
      }
      expect(pongs).toEqual(['1', '2', '3']);
      expect(messages).toEqual([`${OP.TEXT}:1`, `${OP.BINARY}:200`]);
    });
  });

  describe('§5.5 control frames are at most 125 bytes', () => {
    test.each(WRITE_MODES)('a 126-byte Ping → 1002 (%s writes)', async (mode) => {
      const peer = await h.peer();
      await peer.send(peer.ping(ascii(126)), mode);
      await peer.expectFailure(1002);
    });
    test('a 126-byte Pong → 1002', async () => {
      const peer = await h.peer();
      await peer.send(peer.pong(ascii(126)));
      await peer.expectFailure(1002);
    });
    test('a Ping claiming 65535 bytes (16-bit length) → 1002 from the header', async () => {
      const peer = await h.peer();
      await peer.send(peer.ping(Buffer.alloc(0), { declaredLength: 65535 }));
      await peer.expectFailure(1002);
    });
    test('a valid echo, then a 126-byte Ping → 1002', async () => {
      const peer = await h.peer();
      await peer.send(peer.text('hi'));
      await peer.expectEcho(OP.TEXT, 'hi');
      await peer.send(peer.ping(ascii(126)));
      await peer.expectFailure(1002);
    });
  });

  describe('§5.5.3 Pong', () => {
    test.each(WRITE_MODES)('an unsolicited Pong is ignored; the connection still echoes (%s writes)', async (mode) => {
      const peer = await h.peer();
      await peer.send([peer.pong('unsolicited'), peer.text('still here')], mode);
      await peer.expectEcho(OP.TEXT, 'still here');
      peer.expectInboxEmpty();
    });
    test('unsolicited Pongs of 0, 1, 64 and 125 bytes are ignored', async () => {
      const peer = await h.peer();
      await peer.send([...[0, 1, 64, 125].map((n) => peer.pong(binary(n))), peer.binary(pattern(3))]);
      await peer.expectEcho(OP.BINARY, pattern(3));
      await peer.expectQuiet();
    });
  });
});
