// Compressed publishes to a mix of peers (RFC 7692): one compressed frame shared by the subscribers that
// agreed on no server context takeover with the same parameters, per-connection compression for those
// with context takeover, the plain shared frame for those without the extension.
import { constants, inflateRawSync } from 'zlib';
import type { WebSocket } from '../../src';
import { readN, startHubServer, tapWrites, type HubServer } from '../helpers/fanout';

let server: HubServer;
afterEach(async () => {
  await server?.close();
});

const message = (i: number): string =>
  JSON.stringify({ i, user: `user-${i % 7}`, text: 'the quick brown fox jumps over the lazy dog '.repeat(40) });

/** Opcode byte (FIN, RSV1, opcode) and payload of a single unmasked frame. */
function parseFrame(frame: Buffer): { first: number; payload: Buffer } {
  const len7 = frame[1]! & 0x7f;
  const start = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
  return { first: frame[0]!, payload: frame.subarray(start) };
}

function inflate(payload: Buffer): string {
  return inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
}

describe('Hub: compressed publishes', () => {
  test('no-takeover peers with equal parameters share one compressed frame; others get theirs', async () => {
    server = await startHubServer({ upgrader: { compression: true } });
    const hub = server.wss.hub;
    const a1 = await server.open({ compression: { serverNoContextTakeover: true } });
    const a2 = await server.open({ compression: { serverNoContextTakeover: true } });
    const small = await server.open({ compression: { serverNoContextTakeover: true, serverMaxWindowBits: 9 } });
    const takeover = await server.open({ compression: true });
    const plain = await server.open();
    const all = [a1, a2, small, takeover, plain];
    expect(a1.server.extensions).toContain('server_no_context_takeover');
    expect(takeover.server.extensions).not.toContain('server_no_context_takeover');
    expect(plain.server.extensions).toBe('');
    const taps = all.map((p) => {
      hub.subscribe(p.server, 'mix');
      return tapWrites(p.server);
    });
    const texts = [message(0), message(1), message(2)];
    for (const t of texts) expect(hub.publish('mix', t)).toBe(5);
    for (const p of all) expect(await readN(p.client, 3)).toEqual(texts);

    const [t1, t2, tSmall, tTakeover, tPlain] = taps.map((t) => t.buffers);
    for (let i = 0; i < 3; i++) {
      // The same Buffer object went to both: compressed once, shared.
      expect(t1![i]).toBe(t2![i]);
      const shared = parseFrame(t1![i]!);
      expect(shared.first).toBe(0xc1); // FIN, RSV1, text
      expect(shared.payload.length).toBeLessThan(Buffer.byteLength(texts[i]!) / 4);
      expect(inflate(shared.payload)).toBe(texts[i]);
      // Another window size is another parameter set: its own (valid) frame.
      expect(tSmall![i]).not.toBe(t1![i]);
      expect(parseFrame(tSmall![i]!).first).toBe(0xc1);
      expect(inflate(parseFrame(tSmall![i]!).payload)).toBe(texts[i]);
      // Without the extension: the uncompressed frame, shared too.
      expect(parseFrame(tPlain![i]!).first).toBe(0x81);
      expect(parseFrame(tPlain![i]!).payload.toString()).toBe(texts[i]);
    }
    // Context takeover compresses through the connection's own deflate stream: not a shared buffer; with the
    // previous messages as context, the later ones are smaller than one-shot compression makes them.
    const own = tTakeover!.filter((b) => b.length > 0);
    for (const b of own) expect(t1!.includes(b)).toBe(false);
    const takeoverBytes = own.reduce((n, b) => n + b.length, 0);
    const sharedBytes = t1!.reduce((n, b) => n + b.length, 0);
    expect(takeoverBytes).toBeLessThan(sharedBytes);
    expect(hub.stats.delivered).toBe(15);
  });

  test('compress: false and messages under the threshold go uncompressed, in order with compressed ones', async () => {
    server = await startHubServer({ upgrader: { compression: true } });
    const hub = server.wss.hub;
    const noTakeover = await server.open({ compression: { serverNoContextTakeover: true } });
    const takeover = await server.open({ compression: true });
    const pairs = [noTakeover, takeover];
    const taps = pairs.map((p) => {
      hub.subscribe(p.server, 'order');
      return tapWrites(p.server);
    });
    // Large (compressed: asynchronous on the takeover connection), small, uncompressed on request, a direct write.
    const expected: string[] = [];
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 10; i++) {
      hub.publish('order', message(i));
      hub.publish('order', `small ${i}`);
      hub.publish('order', message(100 + i), { compress: false });
      for (const p of pairs) writes.push(p.server.writeMessage(`direct ${i}`));
      expected.push(message(i), `small ${i}`, message(100 + i), `direct ${i}`);
    }
    for (const p of pairs) expect(await readN(p.client, 40)).toEqual(expected);
    await Promise.all(writes);
    // compress: false went out as plain text frames on both (RSV1 clear) with the payload as is.
    for (const tap of taps) {
      const plain = tap.buffers.filter((b) => b.length > 0 && parseFrame(b).payload.toString() === message(105));
      expect(plain).toHaveLength(1);
      expect(parseFrame(plain[0]!).first).toBe(0x81);
    }
  });

  test('a prepared message written to a client connection is compressed and masked by it', async () => {
    server = await startHubServer({ upgrader: { compression: true } });
    const pair = await server.open({ compression: { serverNoContextTakeover: true, clientNoContextTakeover: true } });
    const { PreparedMessage } = await import('../../src');
    const prepared = new PreparedMessage(message(7));
    const client: WebSocket = pair.client;
    await client.writeMessage(prepared);
    await client.writeMessage(prepared);
    expect(await readN(pair.server, 2)).toEqual([message(7), message(7)]);
  });
});
