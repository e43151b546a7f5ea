// permessage-deflate over real connections: the data path of RFC 7692 between two wsflow endpoints.
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { WebSocketServer, connect, PerMessageDeflateOptions, WebSocket } from '../../src';

let servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function echoServer(compression: boolean | PerMessageDeflateOptions, maxPayload?: number): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', upgrader: { compression, maxPayload } }, async (ws) => {
    try {
      for await (const m of ws) await ws.writeMessage(m.data, m.type);
    } catch {
      /* closed */
    }
  });
  servers.push(wss);
  const { port } = await wss.listen();
  return `ws://127.0.0.1:${port}/`;
}

const json = (i: number) =>
  JSON.stringify({ id: i, user: `user-${i % 17}`, tags: ['alpha', 'beta', 'gamma'], text: 'lorem ipsum dolor sit amet '.repeat(40) });

describe('permessage-deflate data path', () => {
  const windows = [8, 9, 10, 11, 12, 13, 14, 15];
  test.each(windows.flatMap((bits) => [[bits, true], [bits, false]] as Array<[number, boolean]>))(
    'echo at window bits %i, no context takeover %s',
    async (bits, noTakeover) => {
      const opts: PerMessageDeflateOptions = {
        serverMaxWindowBits: bits,
        clientMaxWindowBits: bits,
        serverNoContextTakeover: noTakeover,
        clientNoContextTakeover: noTakeover,
        threshold: 0,
      };
      const url = await echoServer(opts);
      const ws = await connect(url, { compression: opts });
      expect(ws.extensions).toContain('permessage-deflate');
      for (let i = 0; i < 20; i++) {
        const text = json(i);
        await ws.writeMessage(text);
        const m = await ws.readMessage();
        expect(m.data.toString()).toBe(text);
      }
      await ws.close();
    },
  );

  test('compressed frames really are compressed (RSV1 on the wire, fewer bytes)', async () => {
    const url = await echoServer(true);
    const ws = await connect(url, { compression: true });
    const socket = (ws as unknown as { socket: import('net').Socket }).socket;
    const before = socket.bytesWritten;
    const text = json(1);
    await ws.writeMessage(text);
    await ws.readMessage();
    expect(socket.bytesWritten - before).toBeLessThan(text.length / 3);
    await ws.close();
  });

  test('writeMessage(..., { compress: false }) and messages under the threshold go uncompressed', async () => {
    const url = await echoServer(true);
    const ws = await connect(url, { compression: { threshold: 1024 } });
    const socket = (ws as unknown as { socket: import('net').Socket }).socket;
    const text = json(2);
    // Counted once the echo is back: small frames reach the socket at the end of the tick, not in writeMessage().
    let before = socket.bytesWritten;
    await ws.writeMessage(text, 'text', { compress: false });
    expect((await ws.readMessage()).data.toString()).toBe(text);
    expect(socket.bytesWritten - before).toBeGreaterThan(text.length);
    before = socket.bytesWritten;
    await ws.writeMessage('short');
    expect((await ws.readMessage()).data.toString()).toBe('short');
    expect(socket.bytesWritten - before).toBe(2 + 4 + 5);
    await ws.close();
  });

  test('messages keep their order when compressed and uncompressed ones interleave', async () => {
    const url = await echoServer({ threshold: 100 });
    const ws = await connect(url, { compression: { threshold: 100 } });
    const sent = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? `s${i}` : json(i)));
    for (const s of sent) void ws.writeMessage(s);
    for (const s of sent) expect((await ws.readMessage()).data.toString()).toBe(s);
    await ws.close();
  });

  test('a compressed message inflating past maxPayload closes with 1009', async () => {
    const url = await echoServer(true, 64 * 1024);
    const ws = await connect(url, { compression: true });
    const closed = new Promise<{ code: number }>((resolve) => ws.once('close', resolve));
    // 1 MiB of zeros deflates to about a kilobyte: small on the wire, big once inflated.
    await ws.writeMessage(Buffer.alloc(1024 * 1024));
    expect((await closed).code).toBe(1009);
  });

  test('nextWriter compresses as it writes and nextReader inflates as frames arrive', async () => {
    const url = await echoServer(true);
    const ws: WebSocket = await connect(url, { compression: true });
    const parts = Array.from({ length: 50 }, (_, i) => json(i));
    const reading = ws.readMessage();
    await pipeline(Readable.from(parts.map((p) => Buffer.from(p))), ws.nextWriter('text'));
    expect((await reading).data.toString()).toBe(parts.join(''));
    await ws.close();
  });

  test('a streamed compressed message may exceed maxPayload in total, each frame within it', async () => {
    const wss = new WebSocketServer(
      { port: 0, host: '127.0.0.1', upgrader: { compression: true, maxPayload: 64 * 1024 } },
      async (ws) => {
        const { stream } = await ws.nextReader();
        let total = 0;
        for await (const chunk of stream) total += (chunk as Buffer).length;
        await ws.writeMessage(String(total));
      },
    );
    servers.push(wss);
    const { port } = await wss.listen();
    const ws = await connect(`ws://127.0.0.1:${port}/`, { compression: true });
    const reply = ws.readMessage();
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    await pipeline(Readable.from(Array.from({ length: 64 }, () => chunk)), ws.nextWriter('binary'));
    expect((await reply).data.toString()).toBe(String(64 * chunk.length));
    await ws.close();
  });
});
