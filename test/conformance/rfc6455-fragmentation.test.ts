// RFC 6455 §5.4 fragmentation, both roles over both transports: messages in 1…1,000 fragments (text split anywhere, even
// inside a character), empty fragments, control frames between fragments (answered at once, before
// the message is complete), and the violations: a continuation with nothing to continue, a fragmented
// control frame, a new data frame inside a fragmented message → 1002.
import { OP, WRITE_MODES, forEachRole, pattern, splitEven, useHarness, utf8Text, type WriteMode } from './driver';

const COUNTS = [1, 2, 3, 10, 100, 1000];
const TYPES = [
  { type: 'text', opcode: OP.TEXT, make: utf8Text },
  { type: 'binary', opcode: OP.BINARY, make: (n: number) => pattern(n, 5) },
] as const;

// A 2,003-byte payload: 1,000 fragments of 2 or 3 bytes, cutting characters everywhere.
const LENGTH = 2003;
const modesFor = (count: number): readonly WriteMode[] => (count <= 100 ? WRITE_MODES : ['whole', 'random']);
const SPLIT_CASES = TYPES.flatMap((t) => COUNTS.flatMap((count) => modesFor(count).map((mode) => ({ ...t, count, mode }))));

forEachRole((role, transport) => {
  const h = useHarness(role, { transport });

  describe('§5.4 fragmented messages are reassembled', () => {
    test.each(SPLIT_CASES)('$type in $count fragments, $mode writes', async ({ opcode, make, count, mode }) => {
      const peer = await h.peer();
      const payload = make(LENGTH);
      await peer.send(peer.fragments(opcode, splitEven(payload, count)), mode);
      await peer.expectEcho(opcode, payload);
      peer.expectInboxEmpty();
    });

    test.each(TYPES)('$type with empty fragments first, in the middle and last', async ({ opcode, make }) => {
      const peer = await h.peer();
      const payload = make(30);
      const empty = Buffer.alloc(0);
      await peer.send(peer.fragments(opcode, [empty, payload.subarray(0, 10), empty, empty, payload.subarray(10), empty]));
      await peer.expectEcho(opcode, payload);
    });

    test.each(TYPES)('$type: an empty message in 3 empty fragments', async ({ opcode }) => {
      const peer = await h.peer();
      await peer.send(peer.fragments(opcode, [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)]));
      await peer.expectEcho(opcode, Buffer.alloc(0));
    });

    test('a 1 MiB binary message in 16 fragments of 64 KiB (64-bit lengths), random writes', async () => {
      const peer = await h.peer();
      const payload = pattern(1024 * 1024, 9);
      await peer.send(peer.fragments(OP.BINARY, splitEven(payload, 16)), 'random');
      await peer.expectEcho(OP.BINARY, payload);
    });

    test('fragmented and whole messages alternate, in order', async () => {
      const peer = await h.peer();
      const a = utf8Text(100);
      const b = pattern(100);
      await peer.send([
        ...peer.fragments(OP.TEXT, splitEven(a, 7)),
        peer.binary(b),
        ...peer.fragments(OP.BINARY, splitEven(b, 3)),
        peer.text(a),
      ], 'random');
      await peer.expectEcho(OP.TEXT, a);
      await peer.expectEcho(OP.BINARY, b);
      await peer.expectEcho(OP.BINARY, b);
      await peer.expectEcho(OP.TEXT, a);
    });
  });

  describe('§5.4 control frames in the middle of a fragmented message', () => {
    test.each(WRITE_MODES)('pings between fragments: the pongs come first, then the echo (%s writes)', async (mode) => {
      const peer = await h.peer();
      const payload = utf8Text(50);
      const [f1, f2, f3, f4, f5] = peer.fragments(OP.TEXT, splitEven(payload, 5));
      await peer.send([f1, peer.ping('p1'), f2, f3, peer.ping('p2'), f4, f5], mode);
      await peer.expectControl(OP.PONG, 'p1');
      await peer.expectControl(OP.PONG, 'p2');
      await peer.expectEcho(OP.TEXT, payload);
    });

    test('each ping is answered before the message is complete (the next fragment is only sent after its pong)', async () => {
      const peer = await h.peer();
      const payload = pattern(60);
      const frames = peer.fragments(OP.BINARY, splitEven(payload, 6));
      for (let i = 0; i < frames.length - 1; i++) {
        await peer.send([frames[i], peer.ping(`p${i}`)]);
        await peer.expectControl(OP.PONG, `p${i}`);
      }
      await peer.send(frames[frames.length - 1]);
      await peer.expectEcho(OP.BINARY, payload);
    });

    test('an unsolicited pong between fragments is ignored', async () => {
      const peer = await h.peer();
      const [f1, f2] = peer.fragments(OP.TEXT, [Buffer.from('frag'), Buffer.from('ment')]);
      await peer.send([f1, peer.pong('x'), f2]);
      await peer.expectEcho(OP.TEXT, 'fragment');
    });

    test('1,000 fragments with a ping after every 100th: 10 pongs, then the echo', async () => {
      const peer = await h.peer();
      const payload = utf8Text(LENGTH);
      const frames = peer.fragments(OP.TEXT, splitEven(payload, 1000));
      const out: Buffer[] = [];
      frames.forEach((f, i) => {
        out.push(f);
        if (i % 100 === 0) out.push(peer.ping(`p${i}`));
      });
      await peer.send(out, 'random');
      for (let i = 0; i < 1000; i += 100) await peer.expectControl(OP.PONG, `p${i}`);
      await peer.expectEcho(OP.TEXT, payload);
    });
  });

  describe('§5.4 violations → 1002', () => {
    // Valid messages first, echoed, then the bad frames (a violation in the same read as a valid message
    // may fail the connection before the application could answer it: Autobahn rates that non-strict).
    const CONT_CASES = [
      { name: 'a continuation (FIN) with nothing to continue', before: [], bad: ['contFin'] },
      { name: 'a continuation (no FIN) with nothing to continue', before: [], bad: ['cont'] },
      { name: 'two continuations (no FIN, then FIN) with nothing to continue', before: [], bad: ['cont', 'contFin'] },
      { name: 'a continuation after a complete message', before: ['valid'], bad: ['contFin'] },
      { name: 'a continuation after a complete fragmented message', before: ['frag1', 'frag2Fin'], bad: ['contFin'] },
      { name: 'a continuation without FIN, then a text frame, after a complete fragmented message', before: ['frag1', 'frag2Fin'], bad: ['cont', 'valid'] },
    ] as const;
    test.each(CONT_CASES.flatMap((c) => (['whole', 'bytes'] as const).map((mode) => ({ ...c, mode }))))(
      '$name ($mode writes)',
      async ({ before, bad, mode }) => {
        const peer = await h.peer();
        const build = {
          contFin: () => peer.cont('orphan'),
          cont: () => peer.cont('orphan', { fin: false }),
          valid: () => peer.text('valid'),
          frag1: () => peer.text('frag', { fin: false }),
          frag2Fin: () => peer.cont('ment'),
        };
        if (before.length > 0) {
          await peer.send(before.map((f) => build[f]()), mode);
          await peer.expectEcho(OP.TEXT, before.length === 1 ? 'valid' : 'fragment');
        }
        await peer.send([...bad.map((f) => build[f]()), peer.ping('must not be answered')], mode);
        await peer.expectFailure(1002);
        peer.expectInboxEmpty();
      },
    );

    const CONTROL = [
      ['ping', OP.PING],
      ['pong', OP.PONG],
      ['close', OP.CLOSE],
    ] as const;
    test.each(CONTROL.flatMap(([name, opcode]) => [false, true].map((inside) => ({ name, opcode, inside }))))(
      'a fragmented $name (FIN=0, then a FIN continuation) → 1002 (inside a message: $inside)',
      async ({ opcode, inside }) => {
        const peer = await h.peer();
        const payload = opcode === OP.CLOSE ? Buffer.from([0x03, 0xe8]) : Buffer.from('ab');
        const frames = [peer.frame(opcode, payload, { fin: false }), peer.cont('cd')];
        await peer.send(inside ? [peer.text('frag', { fin: false }), ...frames, peer.cont('ment')] : frames);
        await peer.expectFailure(1002);
        peer.expectInboxEmpty();
      },
    );

    const NESTED = [
      ['text', 'text', OP.TEXT, OP.TEXT, true],
      ['text', 'text (no FIN)', OP.TEXT, OP.TEXT, false],
      ['text', 'binary', OP.TEXT, OP.BINARY, true],
      ['binary', 'text', OP.BINARY, OP.TEXT, true],
      ['binary', 'binary (no FIN)', OP.BINARY, OP.BINARY, false],
    ] as const;
    test.each(NESTED.flatMap(([outer, inner, o, i, fin]) => WRITE_MODES.map((mode) => ({ outer, inner, o, i, fin, mode }))))(
      'a $inner frame inside a fragmented $outer message → 1002 ($mode writes)',
      async ({ o, i, fin, mode }) => {
        const peer = await h.peer();
        await peer.send([peer.frame(o, 'frag', { fin: false }), peer.frame(i, 'nested', { fin }), peer.cont('ment')], mode);
        await peer.expectFailure(1002);
        peer.expectInboxEmpty();
      },
    );
  });
});
