// RFC 6455 §5.2: RSV1–3 "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
// values"; reserved opcodes 0x3–0x7 and 0xB–0xF: "If an unknown opcode is received, the receiving
// endpoint MUST _Fail the WebSocket Connection_" (§5.2, §7.1.7) → Close 1002. Both roles and transports, no
// extension negotiated; on a fresh connection and after a valid echo; followed by a Ping that must
// not be answered (nothing after the failure is processed).
import { OP, forEachRole, useHarness, type Chopping } from './driver';

const RSV_COMBOS = [1, 2, 3, 4, 5, 6, 7].map((bits) => ({
  bits: [bits & 4 ? 'RSV1' : '', bits & 2 ? 'RSV2' : '', bits & 1 ? 'RSV3' : ''].filter(Boolean).join('+'),
  rsv1: (bits & 4) !== 0,
  rsv2: (bits & 2) !== 0,
  rsv3: (bits & 1) !== 0,
}));
const FRAME_KINDS = [
  { kind: 'text', opcode: OP.TEXT, payload: 'Hello' },
  { kind: 'binary', opcode: OP.BINARY, payload: '\x00\xff' },
  { kind: 'ping', opcode: OP.PING, payload: 'ping' },
  { kind: 'pong', opcode: OP.PONG, payload: 'pong' },
  { kind: 'close', opcode: OP.CLOSE, payload: '\x03\xe8' },
  { kind: 'continuation', opcode: OP.CONT, payload: 'x' },
];
const WHEN = ['fresh', 'after a valid echo'] as const;
const MODES: Chopping[] = ['whole', 'bytes'];

const RSV_CASES = RSV_COMBOS.flatMap((rsv) =>
  FRAME_KINDS.flatMap((kind) => WHEN.map((when, i) => ({ ...rsv, ...kind, when, mode: MODES[i % 2] }))),
);

const RESERVED_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];
const OPCODE_CASES = RESERVED_OPCODES.flatMap((opcode) =>
  WHEN.flatMap((when) =>
    [Buffer.alloc(0), Buffer.from('reserved')].map((payload) => ({ hex: `0x${opcode.toString(16)}`, opcode, when, payload, len: payload.length })),
  ),
);

forEachRole((role, transport) => {
  const h = useHarness(role, { transport });

  describe('§5.2 reserved bits without an extension → 1002', () => {
    test.each(RSV_CASES)('$bits on a $kind frame, $when ($mode writes)', async ({ rsv1, rsv2, rsv3, opcode, payload, when, mode }) => {
      const peer = await h.peer();
      if (when === 'after a valid echo') {
        await peer.send(peer.text('valid'));
        await peer.expectEcho(OP.TEXT, 'valid');
      }
      const bad = peer.frame(opcode, Buffer.from(payload, 'latin1'), { rsv1, rsv2, rsv3 });
      await peer.send([bad, peer.ping('must not be answered')], mode);
      await peer.expectFailure(1002);
      peer.expectInboxEmpty();
    });

    test('RSV1 on the first fragment of a fragmented message (no permessage-deflate) → 1002', async () => {
      const peer = await h.peer();
      await peer.send([peer.text('frag', { fin: false, rsv1: true }), peer.cont('ment')]);
      await peer.expectFailure(1002);
    });
    test('RSV2 on a continuation frame, after a valid first fragment → 1002', async () => {
      const peer = await h.peer();
      await peer.send([peer.text('frag', { fin: false }), peer.cont('ment', { rsv2: true })]);
      await peer.expectFailure(1002);
    });
  });

  describe('§5.2 reserved opcodes → 1002', () => {
    test.each(OPCODE_CASES)('opcode $hex, $len-byte payload, $when', async ({ opcode, when, payload }) => {
      const peer = await h.peer();
      if (when === 'after a valid echo') {
        await peer.send(peer.binary(Buffer.from([1, 2, 3])));
        await peer.expectEcho(OP.BINARY, Buffer.from([1, 2, 3]));
      }
      await peer.send([peer.frame(opcode, payload), peer.ping('must not be answered')]);
      await peer.expectFailure(1002);
      peer.expectInboxEmpty();
    });
    test.each(RESERVED_OPCODES.map((op) => [`0x${op.toString(16)}`, op] as const))(
      'opcode %s between the fragments of a message → 1002',
      async (_hex, opcode) => {
        const peer = await h.peer();
        await peer.send([peer.text('frag', { fin: false }), peer.frame(opcode, 'x'), peer.cont('ment')]);
        await peer.expectFailure(1002);
      },
    );
  });
});
