// RFC 6455 §5.5.1 (Close), §7.1 (closing the connection), §7.4 (status codes), both roles, over HTTP/1.1
// and HTTP/2: valid codes are echoed, invalid ones and malformed payloads fail the connection, nothing
// after a Close is processed, and the TCP connection is closed by the server once the closing handshake
// is done (§7.1.1: the server closes first; the client SHOULD wait for it).
// Over HTTP/2 (RFC 8441 §5) the TCP FIN is END_STREAM and a TCP reset a RST_STREAM; every
// case there also requires the session to outlive the WebSocket (the harness checks it after each test).
import * as http2 from 'http2';
import { DEADLINE, OP, QUIET, closePayload, forEachRole, useHarness, type Connection, type RawPeer, type Transport } from './driver';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
const INVALID_REASONS = [
  ['a lone continuation byte', [0x80]],
  ['an overlong NUL', [0xc0, 0x80]],
  ['a surrogate', [0xed, 0xa0, 0x80]],
  ['U+110000', [0xf4, 0x90, 0x80, 0x80]],
  ['a truncated sequence at the end', [0x6f, 0x6b, 0xce]],
  ['κόσμε then 0xff', [0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xff]],
] as const;

/**
 * After wsflow's Close: as the server it must close the TCP connection (end its stream) itself; as the
 * client it should wait for the server to do so, then close. Either way wsflow reports a clean close with `code`.
 */
async function expectClosingHandshakeDone(role: string, conn: Connection, code: number): Promise<void> {
  const { peer } = conn;
  if (role === 'server') {
    await peer.expectTcpClose();
    // As any client would on the server's FIN: close our side too, so wsflow sees the TCP close.
    peer.end();
  } else {
    await new Promise((resolve) => setTimeout(resolve, QUIET));
    expect({ clientClosedFirst: peer.ended || peer.closed }).toEqual({ clientClosedFirst: false });
    peer.end();
    await peer.expectTcpClose();
  }
  await expect(conn.closed).resolves.toMatchObject({ code, wasClean: true });
}

/** How the end of the transport is called in test titles. */
function words(transport: Transport): { end: string; conn: string } {
  return transport === 'h2' ? { end: 'END_STREAM', conn: 'stream' } : { end: 'the TCP close', conn: 'TCP connection' };
}

forEachRole((role, transport) => {
  const h = useHarness(role, { transport });
  const { end, conn: tcp } = words(transport);

  describe('§7.4 valid close codes are echoed', () => {
    test.each(VALID_CODES)(`Close %i → Close with the same code, then ${end}`, async (code) => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.close(code));
      await conn.peer.expectClose(code);
      await expectClosingHandshakeDone(role, conn, code);
    });
    test.each([
      ['an ASCII reason', 'bye'],
      ['a UTF-8 reason', 'κόσμε 😀'],
      ['a 123-byte reason (125-byte payload)', 'r'.repeat(123)],
    ])('Close 1000 with %s → echoed', async (_name, reason) => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.close(1000, reason), 'bytes');
      await conn.peer.expectClose(1000);
      await expectClosingHandshakeDone(role, conn, 1000);
      await expect(conn.closed).resolves.toMatchObject({ reason });
    });
    test('an empty Close → a Close without a status code (RFC 6455 §5.5.1: the echo carries no code; 1005 may not be sent)', async () => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.close());
      await conn.peer.expectClose(null);
      await expectClosingHandshakeDone(role, conn, 1005);
    });
  });

  describe('§7.4 invalid Close payloads → fail the connection', () => {
    test.each(INVALID_CODES)('Close %i → 1002', async (code) => {
      const peer = await h.peer();
      await peer.send(peer.close(code));
      await peer.expectFailure(1002);
      peer.expectInboxEmpty();
    });
    test.each([0x00, 0x03, 0xe8])('a one-byte Close payload (0x%s) → 1002', async (byte) => {
      const peer = await h.peer();
      await peer.send(peer.frame(OP.CLOSE, Buffer.from([byte])));
      await peer.expectFailure(1002);
    });
    test.each(INVALID_REASONS.map(([name, bytes]) => [name, Buffer.from(bytes)] as const))(
      'a Close reason with invalid UTF-8 (%s) → 1007',
      async (_name, reason) => {
        const peer = await h.peer();
        await peer.send(peer.close(1000, reason));
        await peer.expectFailure(1007);
      },
    );
    test('a 124-byte reason (126-byte Close payload) → 1002', async () => {
      const peer = await h.peer();
      await peer.send(peer.frame(OP.CLOSE, closePayload(1000, 'r'.repeat(124))));
      await peer.expectFailure(1002);
    });
  });

  describe('§5.5.1 nothing after a Close is processed', () => {
    const AFTER: Array<[string, (p: RawPeer) => Buffer[]]> = [
      ['a text frame', (p) => [p.text('too late')]],
      ['a ping', (p) => [p.ping('too late')]],
      ['a fragmented message', (p) => [p.text('too', { fin: false }), p.cont(' late')]],
      ['a reserved opcode (no 1002 either)', (p) => [p.frame(0x5, 'junk')]],
      ['invalid UTF-8 (no 1007 either)', (p) => [p.text(Buffer.from([0xff]))]],
      ['a second Close', (p) => [p.close(3000)]],
    ];
    test.each(AFTER)('Close 1000 followed by %s in the same write: only the Close is echoed', async (_name, after) => {
      const conn = await h.connect();
      await conn.peer.send([conn.peer.close(1000), ...after(conn.peer)]);
      await conn.peer.expectClose(1000);
      await expectClosingHandshakeDone(role, conn, 1000);
      conn.peer.expectInboxEmpty();
    });
    test('a message and a Close in the same write: the echo, if any, comes before the Close (Autobahn 7.1.6: either is fine)', async () => {
      const conn = await h.connect();
      await conn.peer.send([conn.peer.text('last words'), conn.peer.close(1000)]);
      const first = await conn.peer.nextFrame('the echo or the Close');
      if (first.opcode === OP.TEXT) {
        expect(first.payload.toString()).toBe('last words');
        await conn.peer.expectClose(1000);
      } else {
        expect(first.opcode).toBe(OP.CLOSE);
        expect(first.payload.readUInt16BE(0)).toBe(1000);
      }
      await expectClosingHandshakeDone(role, conn, 1000);
      conn.peer.expectInboxEmpty();
    });
    test('Close 1000 followed by a text frame, sent later: no echo', async () => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.close(1000));
      await conn.peer.expectClose(1000);
      await conn.peer.send(conn.peer.text('too late'));
      await expectClosingHandshakeDone(role, conn, 1000);
      conn.peer.expectInboxEmpty();
    });
    test('a Close in the middle of a fragmented message is echoed (the message is dropped)', async () => {
      const conn = await h.connect();
      await conn.peer.send([conn.peer.text('half', { fin: false }), conn.peer.close(1001), conn.peer.cont('rest')]);
      await conn.peer.expectClose(1001);
      await expectClosingHandshakeDone(role, conn, 1001);
      conn.peer.expectInboxEmpty();
    });
  });

  describe(transport === 'h2' ? '§7.1.5 / RFC 8441 §5 the stream reset (RST_STREAM) or ended without a Close' : '§7.1.5 the TCP connection lost without a Close', () => {
    test('wsflow reports 1006, not clean', async () => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.text('hi'));
      await conn.peer.expectEcho(OP.TEXT, 'hi');
      conn.peer.destroy();
      await expect(conn.closed).resolves.toEqual({ code: 1006, reason: '', wasClean: false });
    });
    test('in the middle of a frame: 1006, not clean', async () => {
      const conn = await h.connect();
      await conn.peer.send(conn.peer.binary(Buffer.alloc(100)).subarray(0, 50));
      conn.peer.end();
      await expect(conn.closed).resolves.toMatchObject({ code: 1006, wasClean: false });
    });
  });

  describe('§7.1 closing handshake started by wsflow', () => {
    test(`close(1000, reason): Close sent, the peer answers, the ${tcp} closes cleanly`, async () => {
      const conn = await h.connect();
      const closing = conn.ws.close(1000, 'done');
      const got = await conn.peer.expectClose(1000);
      expect(got.reason).toBe('done');
      await conn.peer.send(conn.peer.close(1000));
      await expectClosingHandshakeDone(role, conn, 1000);
      await expect(closing).resolves.toMatchObject({ code: 1000, wasClean: true });
    });
    test('after its Close, wsflow sends no data frame: a message from the peer is not echoed', async () => {
      const conn = await h.connect();
      void conn.ws.close(4000);
      await conn.peer.expectClose(4000);
      await conn.peer.send([conn.peer.text('late message'), conn.peer.ping('late ping'), conn.peer.close(4000)]);
      await expectClosingHandshakeDone(role, conn, 4000);
      conn.peer.expectInboxEmpty();
    });
  });
});

forEachRole((role, transport) => {
  describe('§7.1.1 a peer that never answers the Close', () => {
    const h = useHarness(role, { transport, closeTimeout: 300 });
    test(`wsflow drops the ${words(transport).conn} after closeTimeout`, async () => {
      const conn = await h.connect();
      const started = Date.now();
      void conn.ws.close(1000);
      await conn.peer.expectClose(1000);
      await conn.peer.expectTcpClose(DEADLINE);
      expect(Date.now() - started).toBeLessThan(300 + 2000);
      await expect(conn.closed).resolves.toMatchObject({ wasClean: false });
    });
  });
});

// RFC 8441 §5 over HTTP/2 only: what stands in for TCP there, and the session shared by the WebSockets.
forEachRole(
  (role, transport) => {
    describe('RFC 8441 §5: streams, not the session', () => {
      const h = useHarness(role, { transport, closeTimeout: 300 });
      test('a failed WebSocket ends its own stream only: another one on the same session keeps echoing', async () => {
        const a = await h.connect();
        const b = await h.connect();
        await a.peer.send(a.peer.frame(0x3, 'reserved'));
        await a.peer.expectFailure(1002);
        await b.peer.send(b.peer.text('still here'));
        await b.peer.expectEcho(OP.TEXT, 'still here');
        await expect(a.closed).resolves.toMatchObject({ code: 1006, wasClean: false });
      });
      test('a WebSocket reset by its peer (RST_STREAM) → 1006; another one on the same session keeps echoing', async () => {
        const a = await h.connect();
        const b = await h.connect();
        a.peer.destroy();
        await expect(a.closed).resolves.toEqual({ code: 1006, reason: '', wasClean: false });
        await b.peer.send(b.peer.binary(Buffer.from([1, 2, 3])));
        await b.peer.expectEcho(OP.BINARY, Buffer.from([1, 2, 3]));
      });
      test('the session lost (the TCP connection under it) → 1006 for every WebSocket on it', async () => {
        const conns = [await h.connect(), await h.connect(), await h.connect()];
        h.dropSession();
        for (const c of conns) await expect(c.closed).resolves.toEqual({ code: 1006, reason: '', wasClean: false });
      });
      test('a stream wsflow drops (closeTimeout) is reset with CANCEL, as a TCP reset is represented', async () => {
        const conn = await h.connect();
        void conn.ws.close(1000);
        await conn.peer.expectClose(1000);
        await conn.peer.waitFor('the stream to be reset', () => (conn.peer.closed ? true : undefined));
        expect(conn.peer.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      });
      test('terminate() resets the stream with CANCEL, and no error is reported for it', async () => {
        const conn = await h.connect();
        const errors: Error[] = [];
        conn.ws.on('error', (e: Error) => errors.push(e));
        conn.ws.terminate();
        await conn.peer.waitFor('the stream to be reset', () => (conn.peer.closed ? true : undefined));
        expect(conn.peer.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
        await expect(conn.closed).resolves.toMatchObject({ code: 1006, wasClean: false });
        expect(errors).toEqual([]);
      });
    });
  },
  undefined,
  ['h2'],
);
