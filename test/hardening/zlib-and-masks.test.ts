// Late zlib errors (undici advisory) and CSPRNG masking keys (gorilla used math/rand until 2025).
import * as crypto from 'crypto';
import * as zlib from 'zlib';
import { PerMessageDeflate } from '../../src/extensions/permessage-deflate';
import { WebSocket } from '../../src/connection/websocket';
import { MemorySocket, clientFrame, rawClientPair, sleep, tcpPair, until, within } from '../fuzz/harness';

const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

function decompress(pmd: PerMessageDeflate, data: Buffer, fin: boolean): Promise<Error | Buffer> {
  return new Promise((resolve) => pmd.decompress(data, fin, 1 << 20, (err, out) => resolve(err ?? (out as Buffer))));
}

describe('zlib errors never escape', () => {
  test('every zlib stream keeps an error listener after failure and close: a late error is absorbed', async () => {
    const pmd = new PerMessageDeflate(params, {}, true);
    const streams: Array<zlib.Inflate | zlib.Deflate> = [];
    const internals = pmd as unknown as { attach: (s: zlib.Inflate | zlib.Deflate) => unknown };
    const attach = internals.attach.bind(pmd);
    internals.attach = (stream) => {
      streams.push(stream);
      return attach(stream);
    };
    const good = zlib.deflateRawSync(Buffer.from('hello hello hello'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(await decompress(pmd, good.subarray(0, good.length - 4), true)).toBeInstanceOf(Buffer);
    // BFINAL=1, BTYPE=11: a reserved block type, invalid in any position.
    const bad = await decompress(pmd, Buffer.from([0x07, 0x00, 0x00]), true);
    expect(bad).toMatchObject({ closeCode: 1007 });
    await new Promise<void>((resolve) => pmd.compress(Buffer.from('x'), true, () => resolve()));
    pmd.close();
    expect(streams).toHaveLength(2);
    for (const stream of streams) {
      expect(stream.listenerCount('error')).toBeGreaterThan(0);
      // Without a listener this would throw (and crash a real process).
      expect(() => stream.emit('error', new Error('late zlib error'))).not.toThrow();
    }
  });

  test('200 connections sending corrupt deflate data mid-message, then vanishing: no uncaught error, all closed', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const good = zlib.deflateRawSync(Buffer.alloc(100_000, 0x41), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      const pairs = await Promise.all(
        Array.from({ length: 200 }, () => rawClientPair({ deflate: new PerMessageDeflate(params, {}, true) })),
      );
      const codes: number[] = [];
      const closes = pairs.map(({ server }) => {
        server.on('error', (e: Error) => codes.push((e as { closeCode?: number }).closeCode ?? 0));
        return new Promise((r) => server.once('close', r));
      });
      pairs.forEach(({ client }, i) => {
        // A good compressed message, then one whose deflate data is corrupt from its first block on.
        client.write(clientFrame(0x2, good.subarray(0, good.length - 4), true, true));
        client.write(clientFrame(0x2, Buffer.concat([Buffer.from([0x07]), crypto.randomBytes(3000)]), false, true));
        client.write(clientFrame(0x0, crypto.randomBytes(3000), true));
        // Half of them reset right away, racing the inflate job with the teardown.
        if (i % 2 === 0) setImmediate(() => client.resetAndDestroy());
        else client.on('end', () => client.end());
      });
      await within(Promise.all(closes), 15_000, 'every connection to close');
      await sleep(100);
      expect(uncaught).toEqual([]);
      expect(codes.every((c) => c === 1007 || c === 1002)).toBe(true);
      for (const { client } of pairs) client.destroy();
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  }, 30_000);
});

describe('masking keys come from the CSPRNG', () => {
  test('keys are exactly the bytes crypto.randomFillSync produced', async () => {
    const filled: Buffer[] = [];
    // The real module object: the library reads `randomFillSync` from it at each refill.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const cryptoModule = require('crypto') as { randomFillSync: typeof crypto.randomFillSync };
    const real = cryptoModule.randomFillSync;
    let calls = 0;
    cryptoModule.randomFillSync = ((buf: Buffer, offset?: number, size?: number) => {
      calls++;
      const out = real(buf, offset, size);
      filled.push(Buffer.from(buf));
      return out;
    }) as typeof crypto.randomFillSync;
    try {
      const socket = new MemorySocket();
      const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: false });
      for (let i = 0; i < 5000; i++) void ws.writeMessage(Buffer.alloc(4)).catch(() => undefined);
      await until(() => socket.written.reduce((a, b) => a + b.length, 0) >= 50_000, 5000, 'all frames');
      ws.terminate();
      const wire = Buffer.concat(socket.written);
      const keys: Buffer[] = [];
      for (let at = 0; at + 10 <= wire.length; at += 10) keys.push(Buffer.from(wire.subarray(at + 2, at + 6)));
      expect(keys).toHaveLength(5000);
      expect(calls).toBeGreaterThanOrEqual(4);
      const stream = Buffer.concat(filled);
      // Every key after the first refill appears in what the CSPRNG produced, in order.
      const tail = Buffer.concat(keys.slice(keys.length - 2000));
      expect(stream.includes(tail)).toBe(true);
    } finally {
      cryptoModule.randomFillSync = real;
    }
  });

  test('100,000 keys from a live client: distinct, uniform bytes', async () => {
    const { a, b } = await tcpPair();
    const ws = new WebSocket(b, Buffer.alloc(0), { isServer: false });
    const keys: number[] = [];
    // The raw bytes the client sends: empty masked frames, key at bytes 2..5 of each 6.
    const raw: Buffer[] = [];
    a.on('data', (d: Buffer) => raw.push(Buffer.from(d)));
    for (let i = 0; i < 100_000; i++) void ws.writeMessage(Buffer.alloc(0)).catch(() => undefined);
    await until(() => raw.reduce((a, b) => a + b.length, 0) >= 600_000, 10_000, 'all frames');
    const all = Buffer.concat(raw);
    const counts = new Array<number>(256).fill(0);
    for (let at = 0; at + 6 <= all.length; at += 6) {
      keys.push(all.readUInt32BE(at + 2));
      for (let j = 2; j < 6; j++) counts[all[at + j] as number]++;
    }
    expect(keys).toHaveLength(100_000);
    // Birthday bound on 2^32: ~1.2 expected collisions among 100,000 keys.
    expect(100_000 - new Set(keys).size).toBeLessThan(10);
    // Chi-square over 400,000 bytes, 255 degrees of freedom: mean 255, sd ~22.6.
    const expected = 400_000 / 256;
    const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(400);
    ws.terminate();
    a.destroy();
  }, 30_000);
});
