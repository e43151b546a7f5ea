// Connection-level conformance over both transports: a representative subset of the RFC 6455 suites'
// cases (framing, fragmentation, UTF-8, close, limits) run against wsflow as a server reached over an
// HTTP/1.1 upgrade AND over an HTTP/2 extended CONNECT stream (h2c), with the same raw peer (driver.ts's
// RawPeer, which writes exact bytes and checks every frame wsflow sends). Compression over h2 is covered
// by http2-client.test.ts and http2-server.test.ts (negotiated and exchanged through wsflow's client).
import type * as http2 from 'http2';
import { WebSocketServer } from '../../src/server';
import { openSession, connectHeaders, request, startH2Server, type H2Server } from '../helpers/http2';
import { echo, OP, RawPeer, useHarness, utf8Text, pattern, withTimeout, DEADLINE, type Harness } from './driver';

jest.setTimeout(30_000);

const MAX_PAYLOAD = 64 * 1024;

/** The h2 twin of the driver's server harness: an echo WebSocketServer({ http2 }) and RawPeers on its streams. */
class H2Harness {
  private h2: H2Server | null = null;
  private wss: WebSocketServer | null = null;
  private session: http2.ClientHttp2Session | null = null;
  private readonly peers: RawPeer[] = [];

  async peer(): Promise<RawPeer> {
    if (this.h2 === null) {
      this.h2 = await startH2Server({ h2c: true }, (server) => {
        this.wss = new WebSocketServer({ http2: server, path: '/echo', upgrader: { maxPayload: MAX_PAYLOAD, closeTimeout: 1000 } }, (ws) => void echo(ws));
      });
      this.session = await openSession(this.h2.origin);
    }
    const answer = await request(this.session as http2.ClientHttp2Session, connectHeaders('/echo'));
    if (answer.status !== 200) throw new Error(`Refused: ${answer.status}`);
    // A TCP client (allowHalfOpen false) answers the server's FIN with its own; a stream has to be told.
    answer.stream.once('end', () => answer.stream.end());
    const peer = new RawPeer(answer.stream, true, Buffer.alloc(0));
    this.peers.push(peer);
    return peer;
  }

  closePeers(): void {
    for (const p of this.peers.splice(0)) p.destroy();
  }

  async stop(): Promise<void> {
    this.closePeers();
    this.session?.destroy();
    if (this.wss !== null) await withTimeout(this.wss.close(), DEADLINE, 'the WebSocketServer to close');
    await this.h2?.close();
  }
}

interface PeerSource {
  peer(): Promise<RawPeer>;
}

function useH2Harness(): H2Harness {
  const h = new H2Harness();
  afterEach(() => h.closePeers());
  afterAll(() => h.stop());
  return h;
}

const transports: Array<[string, () => PeerSource]> = [
  ['HTTP/1.1', (): Harness => useHarness('server', { maxPayload: MAX_PAYLOAD, closeTimeout: 1000 })],
  ['HTTP/2', (): H2Harness => useH2Harness()],
];

describe.each(transports)('wsflow as server over %s', (_name, make) => {
  const harness = make();

  describe('framing (RFC 6455 §5.2)', () => {
    test.each([0, 125, 126, 65535])('a %i-byte text message is echoed, whole and in random pieces', async (size) => {
      const peer = await harness.peer();
      const text = utf8Text(size);
      await peer.send(peer.text(text));
      await peer.expectEcho(OP.TEXT, text);
      await peer.send(peer.text(text), 'random');
      await peer.expectEcho(OP.TEXT, text);
    });

    test('binary is echoed as binary', async () => {
      const peer = await harness.peer();
      const data = pattern(3000, 7);
      await peer.send(peer.binary(data), 'random');
      await peer.expectEcho(OP.BINARY, data);
    });

    test('an unmasked frame from the client fails the connection with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.text('x', { mask: false }));
      await peer.expectFailure(1002);
    });

    test('a frame with RSV bits set (no extension) fails the connection with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.text('x', { rsv1: true }));
      await peer.expectFailure(1002);
    });

    test('a reserved opcode fails the connection with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.frame(0x3, 'x'));
      await peer.expectFailure(1002);
    });
  });

  describe('fragmentation and control frames (§5.4, §5.5)', () => {
    test('a fragmented message with a ping between its fragments: pong first, then the whole message', async () => {
      const peer = await harness.peer();
      const [a, b, c] = peer.fragments(OP.TEXT, [Buffer.from('frag'), Buffer.from('ment'), Buffer.from('ed')]);
      await peer.send([a!, b!, peer.ping('p'), c!], 'bytes');
      await peer.expectControl(OP.PONG, 'p');
      await peer.expectEcho(OP.TEXT, 'fragmented');
    });

    test('a continuation without a message to continue fails with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.cont('x'));
      await peer.expectFailure(1002);
    });

    test('a fragmented ping fails with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.ping('x', { fin: false }));
      await peer.expectFailure(1002);
    });
  });

  describe('UTF-8 (§8.1)', () => {
    test('a code point split across fragments is reassembled', async () => {
      const peer = await harness.peer();
      const euro = Buffer.from('€', 'utf8');
      await peer.send(peer.fragments(OP.TEXT, [euro.subarray(0, 1), euro.subarray(1)]));
      await peer.expectEcho(OP.TEXT, '€');
    });

    test('invalid UTF-8 in a text message fails with 1007', async () => {
      const peer = await harness.peer();
      await peer.send(peer.text(Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80])));
      await peer.expectFailure(1007);
    });
  });

  describe('closing (§5.5.1, §7.4)', () => {
    test("the peer's Close is answered with the same code and the transport is closed", async () => {
      const peer = await harness.peer();
      await peer.send(peer.close(1000, 'bye'));
      await peer.expectClose(1000);
      await peer.expectTcpClose();
    });

    test('a Close with an invalid code (999) fails with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.close(999));
      await peer.expectFailure(1002);
    });

    test('a Close with a 1-byte payload fails with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.frame(OP.CLOSE, Buffer.from([3])));
      await peer.expectFailure(1002);
    });
  });

  describe('limits', () => {
    test('a message over maxPayload fails with 1009', async () => {
      const peer = await harness.peer();
      await peer.send(peer.binary(Buffer.alloc(MAX_PAYLOAD + 1)));
      await peer.expectFailure(1009);
    });

    test('a fragmented message growing past maxPayload fails with 1009', async () => {
      const peer = await harness.peer();
      const half = Buffer.alloc(MAX_PAYLOAD / 2 + 1);
      await peer.send(peer.fragments(OP.BINARY, [half, half]));
      await peer.expectFailure(1009);
    });

    test('a control frame over 125 bytes fails with 1002', async () => {
      const peer = await harness.peer();
      await peer.send(peer.ping(Buffer.alloc(126)));
      await peer.expectFailure(1002);
    });
  });
});
