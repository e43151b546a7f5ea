// Strict to the last Autobahn case (issue 16), both roles, over real sockets (HTTP/1.1 and HTTP/2 streams):
//  - What came before a protocol error is still answered. Autobahn 3.2–3.4, 4.1.3–4.1.5, 4.2.3–4.2.5 and 5.15
//    send a valid message, a bad frame and a Ping (or another message) back to back; "OK" means the echo of
//    the valid message arrives, then the Close (1002), and nothing is answered after the bad frame.
//    Each case runs in one write (the peer's frames then land in one read: the case wsflow used to fail
//    early), in frame-wise chops and in byte-wise chops (Autobahn's `sync` and `chopsize = 1`).
//  - UTF-8 fails inside a frame. Autobahn 6.4.3/6.4.4 send one text frame in three chops with pauses; "OK"
//    means the 1007 comes in answer to the second chop. Here the third chop is never sent: the Close must
//    arrive without it. Larger frames check both stages of the parser's assembly of a payload spanning reads.
import { WebSocketServer, connect, WebSocket } from '../../src';
import { socketPair } from '../helpers/pair';
import { OP, RawPeer, forEachRole, useHarness, utf8Text, withTimeout, type Chopping } from './driver';

const HELLO = 'Hello, world!';

interface EchoCase {
  id: string;
  what: string;
  /** The frames to send, in order: what comes before the bad frame, the bad frame, what follows it. */
  frames(peer: RawPeer): Buffer[];
  /** The message whose echo must arrive before the Close. */
  echo: string;
  /** How Autobahn cuts the bytes: `frames` (sync = True) or `bytes` (chopsize = 1); every case also runs whole. */
  autobahn: 'whole' | 'frames' | 'bytes';
}

const ECHO_CASES: EchoCase[] = [
  { id: '3.2', what: 'text, text with RSV = 2, ping', frames: (p) => [p.text(HELLO), p.text(HELLO, { rsv2: true }), p.ping()], echo: HELLO, autobahn: 'whole' },
  { id: '3.3', what: 'text, text with RSV = 3, ping', frames: (p) => [p.text(HELLO), p.text(HELLO, { rsv2: true, rsv3: true }), p.ping()], echo: HELLO, autobahn: 'frames' },
  { id: '3.4', what: 'text, text with RSV = 4, ping', frames: (p) => [p.text(HELLO), p.text(HELLO, { rsv1: true }), p.ping()], echo: HELLO, autobahn: 'bytes' },
  { id: '4.1.3', what: 'text, reserved opcode 5, ping', frames: (p) => [p.text(HELLO), p.frame(5), p.ping()], echo: HELLO, autobahn: 'whole' },
  { id: '4.1.4', what: 'text, reserved opcode 6 with a payload, ping', frames: (p) => [p.text(HELLO), p.frame(6, HELLO), p.ping()], echo: HELLO, autobahn: 'whole' },
  { id: '4.1.5', what: 'text, reserved opcode 7 with a payload, ping', frames: (p) => [p.text(HELLO), p.frame(7, HELLO), p.ping()], echo: HELLO, autobahn: 'bytes' },
  { id: '4.2.3', what: 'text, reserved control opcode 13, ping', frames: (p) => [p.text(HELLO), p.frame(13), p.ping()], echo: HELLO, autobahn: 'whole' },
  { id: '4.2.4', what: 'text, reserved control opcode 14 with a payload, ping', frames: (p) => [p.text(HELLO), p.frame(14, HELLO), p.ping()], echo: HELLO, autobahn: 'whole' },
  { id: '4.2.5', what: 'text, reserved control opcode 15 with a payload, ping', frames: (p) => [p.text(HELLO), p.frame(15, HELLO), p.ping()], echo: HELLO, autobahn: 'bytes' },
  {
    id: '5.15',
    what: 'a text message in 2 fragments, a continuation with nothing to continue, a text message',
    frames: (p) => [
      p.text('fragment1', { fin: false }),
      p.cont('fragment2'),
      p.cont('fragment3', { fin: false }),
      p.text('fragment4'),
    ],
    echo: 'fragment1fragment2',
    autobahn: 'whole',
  },
];

function chopping(frames: Buffer[], mode: 'whole' | 'frames' | 'bytes'): Chopping {
  if (mode !== 'frames') return mode;
  const cuts: number[] = [];
  let at = 0;
  for (const f of frames) cuts.push((at += f.length));
  return { cuts };
}

const ECHO_RUNS = ECHO_CASES.flatMap((c) =>
  (['whole', 'frames', 'bytes'] as const).map((mode) => ({ ...c, mode, label: mode === c.autobahn ? `${mode} (as Autobahn)` : mode })),
);

// Autobahn 6.4.1's message: PART2 is U+110000 in UTF-8's scheme, invalid at its second byte (0x90).
const PART1 = Buffer.from('cebae1bdb9cf83cebcceb5', 'hex');
const PART2 = Buffer.from('f4908080', 'hex');
const PART3 = Buffer.from('656469746564', 'hex');
const PAYLOAD = Buffer.concat([PART1, PART2, PART3]);

forEachRole((role, transport) => {
  const h = useHarness(role, { transport });

  describe('what came before a protocol error is answered, then the connection fails (Autobahn 3.x, 4.x, 5.15)', () => {
    test.each(ECHO_RUNS)('$id: $what ($label)', async ({ frames, echo, mode }) => {
      const peer = await h.peer();
      const bytes = frames(peer);
      await peer.send(bytes, chopping(bytes, mode));
      await peer.expectEcho(OP.TEXT, echo);
      await peer.expectFailure(1002);
      // No Pong, no echo of anything after the bad frame.
      peer.expectInboxEmpty();
    });

    test('several messages before the bad frame are all answered, in order', async () => {
      const peer = await h.peer();
      const texts = ['one', 'two', 'three', 'four', 'five'];
      await peer.send([...texts.map((t) => peer.text(t)), peer.binary('bin'), peer.frame(3), peer.text('after')]);
      for (const t of texts) await peer.expectEcho(OP.TEXT, t);
      await peer.expectEcho(OP.BINARY, 'bin');
      await peer.expectFailure(1002);
      peer.expectInboxEmpty();
    });

    test('invalid UTF-8 after a valid message in the same read: the echo, then 1007', async () => {
      const peer = await h.peer();
      await peer.send([peer.text(HELLO), peer.text(PAYLOAD), peer.ping()]);
      await peer.expectEcho(OP.TEXT, HELLO);
      await peer.expectFailure(1007);
      peer.expectInboxEmpty();
    });

    test('a frame over maxPayload after a valid message in the same read: the echo, then 1009', async () => {
      const peer = await h.peer();
      await peer.send([peer.text(HELLO), peer.binary(Buffer.alloc(0), { declaredLength: 2 ** 40 })]);
      await peer.expectEcho(OP.TEXT, HELLO);
      await peer.expectFailure(1009);
      peer.expectInboxEmpty();
    });
  });

  describe('UTF-8 fails in the read that brings the invalid byte, even mid-frame (Autobahn 6.4.3, 6.4.4)', () => {
    // Cuts are offsets into the payload; the header goes with the first chop. The last chop is never sent.
    async function chops(peer: RawPeer, payload: Buffer, cuts: number[]): Promise<void> {
      const frame = peer.text(payload);
      const header = frame.length - payload.length;
      let from = 0;
      for (let i = 0; i < cuts.length; i++) {
        const to = header + cuts[i];
        await peer.send(frame.subarray(from, to));
        from = to;
        // Every chop but the one holding the invalid byte is accepted: nothing comes back.
        if (i < cuts.length - 1) await peer.expectQuiet(100, `nothing after chop ${i + 1}`);
      }
      await peer.expectFailure(1007);
      peer.expectInboxEmpty();
    }

    test('6.4.3: valid part, then the 4 bytes of U+110000, then (never sent) the rest', async () => {
      const peer = await h.peer();
      await chops(peer, PAYLOAD, [PART1.length, PART1.length + PART2.length]);
    });

    test('6.4.4: the first 12 bytes (ending in a lead byte), then the single invalid byte, then (never sent) the rest', async () => {
      const peer = await h.peer();
      await chops(peer, PAYLOAD, [12, 13]);
    });

    // 64 KiB frames: the parser keeps pieces until a quarter has arrived, then assembles the rest in place.
    const SIZE = 64 * 1024;
    test.each([
      { stage: 'while the first quarter is gathered', bad: 9000, cuts: [4096, 9001] },
      { stage: 'once the payload is assembled in its own buffer', bad: 40_000, cuts: [20_000, 40_001] },
      { stage: 'in the chop that completes the first quarter', bad: 20_000, cuts: [1000, 30_000] },
    ])('a 64 KiB text frame with an invalid byte $stage', async ({ bad, cuts }) => {
      const payload = utf8Text(SIZE);
      payload[bad] = 0xff;
      const peer = await h.peer();
      await chops(peer, payload, cuts);
    });

    test('a multi-byte character cut between chops of one frame is not an error', async () => {
      const peer = await h.peer();
      const payload = utf8Text(64 * 1024);
      const frame = peer.text(payload);
      const header = frame.length - payload.length;
      // Cuts inside multi-byte characters, at both stages of the assembly.
      const cuts = [3, 5000, 16_385, 40_001].map((c) => header + c);
      await peer.send(frame, { cuts });
      await peer.expectEcho(OP.TEXT, payload);
    });

    test('a continuation of a text message is checked mid-frame too', async () => {
      const peer = await h.peer();
      const tail = utf8Text(8000);
      tail[5000] = 0xc0; // never valid
      await peer.send(peer.text('valid first fragment', { fin: false }));
      const frame = peer.cont(tail);
      const header = frame.length - tail.length;
      await peer.send(frame.subarray(0, header + 2000));
      await peer.expectQuiet(100, 'nothing after the first chop');
      await peer.send(frame.subarray(header + 2000, header + 5001));
      await peer.expectFailure(1007);
    });

    test('a binary frame is not checked', async () => {
      const peer = await h.peer();
      const payload = Buffer.alloc(8000, 0xff);
      const frame = peer.binary(payload);
      await peer.send(frame, { cuts: [100, 4000] });
      await peer.expectEcho(OP.BINARY, payload);
    });
  });
});

describe('permessage-deflate: inflated text is checked as zlib produces it', () => {
  let wss: WebSocketServer | null = null;
  afterEach(async () => {
    if (wss !== null) await wss.close();
    wss = null;
  });

  test('invalid UTF-8 at the start of a message that inflates past maxPayload fails with 1007, not 1009', async () => {
    let serverSide!: Promise<WebSocket>;
    let arrived!: (ws: WebSocket) => void;
    serverSide = new Promise((resolve) => (arrived = resolve));
    wss = new WebSocketServer(
      { port: 0, host: '127.0.0.1', upgrader: { compression: { threshold: 0 }, maxPayload: 64 * 1024 } },
      (ws) => {
        arrived(ws);
        void (async () => {
          for await (const m of ws) await ws.writeMessage(m.data, m.type);
        })().catch(() => undefined);
      },
    );
    const { port } = await wss.listen();
    const client = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
    expect(client.extensions).toContain('permessage-deflate');
    const closed = new Promise<{ code: number }>((resolve) => client.once('close', resolve));
    // Context takeover (the default) inflates on the stream, 16 KiB at a time: the first piece already fails.
    const message = Buffer.concat([Buffer.from([0x61, 0xff]), Buffer.alloc(1024 * 1024, 0x61)]);
    await client.writeMessage(message, 'text');
    const info = await withTimeout(closed, 10_000, 'the client to be closed');
    expect(info.code).toBe(1007);
    await withTimeout(serverSide, 1000, 'the server connection');
  });
});

// Every way of reading gets the messages that came before the bad frame, and can answer them before the Close.
describe('every reading API is answered before the Close', () => {
  type Reader = (ws: WebSocket) => void;
  const answer = (ws: WebSocket, data: Buffer): void => {
    ws.writeMessage(Buffer.concat([Buffer.from('re: '), data]), 'text').catch(() => undefined);
  };
  const READERS: Array<{ api: string; read: Reader }> = [
    { api: "the 'message' event", read: (ws) => ws.on('message', (data) => answer(ws, data)) },
    {
      api: 'readMessage()',
      read: (ws) => {
        void (async () => {
          for (;;) answer(ws, (await ws.readMessage()).data);
        })().catch(() => undefined);
      },
    },
    {
      api: 'the readable stream',
      read: (ws) => {
        void (async () => {
          for await (const m of ws.readable) answer(ws, (m as { data: Buffer }).data);
        })().catch(() => undefined);
      },
    },
    {
      api: 'the async iterator, starting to read only a while after the messages came',
      read: (ws) => {
        // The slow start is the scenario, not the proof: the echoes must come whenever reading starts within the grace.
        setTimeout(() => {
          void (async () => {
            for await (const m of ws) answer(ws, m.data);
          })().catch(() => undefined);
        }, 50);
      },
    },
  ];

  const open: Array<{ ws: WebSocket; peer: RawPeer }> = [];
  afterEach(async () => {
    for (const { ws, peer } of open.splice(0)) {
      peer.destroy();
      ws.terminate();
    }
  });

  test.each(READERS)('$api', async ({ read }) => {
    const { server, client } = await socketPair();
    const peer = new RawPeer(client, true, Buffer.alloc(0));
    const ws = new WebSocket(server, Buffer.alloc(0), { isServer: true });
    open.push({ ws, peer });
    read(ws);
    // One write: the parser reads past the messages to the bad frame before the application has seen them.
    await peer.send([peer.text('one'), peer.text('two'), peer.frame(0xb), peer.text('three')]);
    await peer.expectEcho(OP.TEXT, 're: one');
    await peer.expectEcho(OP.TEXT, 're: two');
    await peer.expectFailure(1002);
    peer.expectInboxEmpty();
  });
});
