/**
 * The CPU cost of each way to read an echo server's messages, the library's own work only: one process, a
 * server WebSocket over an in-memory socket that is fed a fixed chunk of K masked frames and discards what
 * is written, so both idioms see exactly the same batching (in the end-to-end bench the batch size depends
 * on scheduling, which on a shared machine moves the per-core figures more than the idiom does).
 *
 *   node dist/bench/idiom.js [--sizes 64,1024,65536] [--batch 8] [--reps 7] [--ms 300] [--language no] [--lifecycle no]
 *   node --cpu-prof dist/bench/idiom.js --only await --sizes 64     (one idiom alone, e.g. to profile it)
 *   node dist/bench/idiom.js --sizes 1048576 --batch 1 --conns 100 --chunk 65536   (large messages over many
 *                                      connections, each read a socket-sized chunk: what each idiom keeps alive
 *                                      between messages then weighs on the allocator and the GC)
 *
 * Idioms: `events` (`ws.on('message', (d, t) => ws.writeMessage(d, t))`), `await` (the README's
 * `for await (const m of ws) await ws.writeMessage(m.data, m.type)`), `readMessage` (a
 * `for (;;) { const m = await ws.readMessage(); await ws.writeMessage(...) }` loop). Each repetition
 * measures every idiom back to back in a rotated order on a fresh connection; per batch the event loop
 * turns once (setImmediate) so the await idioms' microtasks and the sender's tick-end flush run, the same
 * for all. Then the CPU cost of a connection's lifetime with each idiom (--lifecycle no skips it). Prints CPU ns per message (process.cpuUsage: preemption by other jobs is not counted; median
 * of repetitions) and each idiom ÷ events, repetition by repetition.
 *
 * First it prints the language's own share (--language no skips it): the same two shapes with no WebSocket,
 * a bare async iterator that always has a value ready (`Promise.resolve({ value, done })`, what wsflow's
 * iterator returns when a message is waiting) looped with `for await` + `await` of a resolved promise, against
 * a bare function call + `.catch()` on it. What the await idiom costs beyond that difference is wsflow's.
 */
import { Duplex } from 'stream';
import { WebSocket } from '../src/connection/websocket';
import { serializeFrame } from '../src/codec/frame-serializer';

type Idiom = 'events' | 'await' | 'readMessage';
const IDIOMS: Idiom[] = ['events', 'await', 'readMessage'];

function noop(): void {
  /* the connection went away */
}

/** An in-memory socket: the test pushes bytes in, writes are counted and dropped. */
class MemorySocket extends Duplex {
  written = 0;
  constructor() {
    super({ highWaterMark: 1 << 30 });
  }
  override _read(): void {
    /* bytes are pushed by the benchmark */
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written += chunk.length;
    cb();
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    for (const c of chunks) this.written += c.chunk.length;
    cb();
  }
}

function attach(ws: WebSocket, idiom: Idiom): void {
  switch (idiom) {
    case 'events':
      ws.on('message', (data, type) => {
        ws.writeMessage(data, type).catch(noop);
      });
      return;
    case 'await':
      void (async () => {
        for await (const m of ws) await ws.writeMessage(m.data, m.type);
      })().catch(noop);
      return;
    case 'readMessage':
      void (async () => {
        for (;;) {
          const m = await ws.readMessage();
          await ws.writeMessage(m.data, m.type);
        }
      })().catch(noop);
  }
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * ns per message of one idiom: batches of `batch` frames of `size` bytes for at least `ms`, to each of `conns`
 * connections in turn, pushed `chunk` bytes at a time (0: the whole batch in one push).
 */
async function measure(idiom: Idiom | 'none', size: number, batch: number, ms: number, conns = 1, chunk = 0): Promise<number> {
  const payload = Buffer.alloc(size, 0x61);
  const frames = Buffer.concat(Array.from({ length: batch }, () => Buffer.concat(serializeFrame(0x82, payload, true))));
  const step = chunk > 0 ? chunk : frames.length;
  const sockets: MemorySocket[] = [];
  const connections: WebSocket[] = [];
  for (let i = 0; i < conns; i++) {
    const socket = new MemorySocket();
    sockets.push(socket);
    if (idiom === 'none') {
      socket.on('data', noop);
      continue;
    }
    const ws = new WebSocket(socket, Buffer.alloc(0), { isServer: true });
    attach(ws, idiom);
    connections.push(ws);
  }
  const expected = idiom === 'none' ? 0 : batch * (size + (size < 126 ? 2 : size < 65536 ? 4 : 10));
  // Warm-up, then timed batches; the parser unmasks in place, so every batch is a fresh copy.
  // CPU time (user + system) of this process, not wall time: on a shared machine the process is
  // preempted at random, which wall time would count.
  let batches = 0;
  let start = process.cpuUsage();
  for (let phase = 0; phase < 2; phase++) {
    const until = process.hrtime.bigint() + BigInt(Math.round((phase === 0 ? ms / 3 : ms) * 1e6));
    if (phase === 1) {
      batches = 0;
      start = process.cpuUsage();
    }
    while (process.hrtime.bigint() < until) {
      const socket = sockets[batches % conns];
      const before = socket.written;
      const copy = Buffer.from(frames);
      for (let at = 0; at < copy.length; at += step) {
        socket.push(copy.subarray(at, Math.min(at + step, copy.length)));
        if (step < copy.length) await turn();
      }
      await turn();
      if (socket.written - before !== expected) throw new Error(`${idiom}: ${socket.written - before} bytes echoed, expected ${expected}`);
      batches++;
    }
  }
  const used = process.cpuUsage(start);
  const ns = (used.user + used.system) * 1000;
  for (const ws of connections) ws.terminate();
  for (const socket of sockets) socket.destroy();
  return ns / (batches * batch);
}

const CLOSE_1000_MASKED = Buffer.from([0x88, 0x82, 0x01, 0x02, 0x03, 0x04, 0x03 ^ 0x01, 0xe8 ^ 0x02]);

/**
 * CPU ns per connection lifetime without the network: a server WebSocket over an in-memory socket, the
 * idiom attached (a reader parked), the peer's Close arrives, the Close is echoed and the socket closed.
 * The library's share of a handshake cell's connection, minus the HTTP upgrade.
 */
async function measureLifecycle(idiom: Idiom, ms: number): Promise<number> {
  let n = 0;
  let start = process.cpuUsage();
  for (let phase = 0; phase < 2; phase++) {
    const until = process.hrtime.bigint() + BigInt(Math.round((phase === 0 ? ms / 3 : ms) * 1e6));
    if (phase === 1) {
      n = 0;
      start = process.cpuUsage();
    }
    while (process.hrtime.bigint() < until) {
      // 16 connections per turn of the event loop, as 16 handshakes at a time would give.
      const sockets: MemorySocket[] = [];
      for (let i = 0; i < 16; i++) {
        const socket = new MemorySocket();
        attach(new WebSocket(socket, Buffer.alloc(0), { isServer: true }), idiom);
        sockets.push(socket);
      }
      await null;
      for (const socket of sockets) socket.push(Buffer.from(CLOSE_1000_MASKED));
      await turn();
      for (const socket of sockets) {
        if (socket.written !== 4) throw new Error(`${idiom}: Close echo of ${socket.written} bytes`);
        socket.destroy();
      }
      await turn();
      n += sockets.length;
    }
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n;
}

const RESOLVED = Promise.resolve();

/** CPU ns per message of the await shape minus the event shape, in bare JavaScript (see the header). */
async function languageShare(ms: number): Promise<{ awaitNs: number; eventNs: number }> {
  const data = Buffer.alloc(8);
  const iterator: AsyncIterableIterator<{ type: string; data: Buffer }> = {
    next: () => Promise.resolve({ value: { type: 'binary', data }, done: false }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  const handler = (_data: Buffer, _type: string): void => {
    RESOLVED.catch(noop);
  };
  const run = async (shape: 'await' | 'event', n: number): Promise<void> => {
    if (shape === 'await') {
      let i = 0;
      for await (const m of iterator) {
        await RESOLVED;
        if (++i === n || m.data.length === 0) break;
      }
      return;
    }
    // A turn per 8 messages, as a read of 8 frames gives the event idiom.
    for (let i = 0; i < n; i++) {
      handler(data, 'binary');
      if ((i & 7) === 7) await null;
    }
  };
  const timed = async (shape: 'await' | 'event'): Promise<number> => {
    const n = 20_000;
    let total = 0;
    let used = 0;
    const until = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
    while (process.hrtime.bigint() < until) {
      const start = process.cpuUsage();
      await run(shape, n);
      const cpu = process.cpuUsage(start);
      used += cpu.user + cpu.system;
      total += n;
    }
    return (used * 1000) / total;
  };
  await timed('await');
  await timed('event');
  return { awaitNs: await timed('await'), eventNs: await timed('event') };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const args = new Map<string, string>();
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) args.set(argv[i].replace(/^--/, ''), argv[i + 1]);
  const sizes = (args.get('sizes') ?? '64,1024,65536').split(',').map(Number);
  const batch = Number(args.get('batch') ?? 8);
  const reps = Number(args.get('reps') ?? 7);
  const ms = Number(args.get('ms') ?? 300);
  const conns = Number(args.get('conns') ?? 1);
  const chunk = Number(args.get('chunk') ?? 0);
  const reads = chunk > 0 ? `${chunk} B per read` : `${batch} frames per read`;
  console.log(`node ${process.version}; batch ${batch} frames, ${reads}, ${conns} conn(s); ${reps} reps × ${ms} ms; CPU ns per message (median), the event-loop turn per batch (none) included`);
  if (args.get('language') !== 'no') {
    const shares: Array<{ awaitNs: number; eventNs: number }> = [];
    for (let rep = 0; rep < Math.min(reps, 5); rep++) shares.push(await languageShare(ms));
    const a = median(shares.map((x) => x.awaitNs));
    const e = median(shares.map((x) => x.eventNs));
    const d = median(shares.map((x) => x.awaitNs - x.eventNs));
    console.log(`language share, no WebSocket: for await + await ${a.toFixed(0)} ns, call + .catch ${e.toFixed(0)} ns: the await shape costs ${d.toFixed(0)} ns more per message`);
  }
  for (const size of sizes) {
    const results = new Map<Idiom | 'none', number[]>();
    const ratios = new Map<Idiom, number[]>();
    const only = args.get('only') as Idiom | undefined;
    const kinds: Array<Idiom | 'none'> = only !== undefined ? [only] : ['none', ...IDIOMS];
    for (let rep = 0; rep < reps; rep++) {
      const order = [...kinds.slice(rep % kinds.length), ...kinds.slice(0, rep % kinds.length)];
      const got = new Map<Idiom | 'none', number>();
      for (const k of order) got.set(k, await measure(k, size, batch, ms, conns, chunk));
      for (const [k, v] of got) results.set(k, [...(results.get(k) ?? []), v]);
      if (only === undefined) for (const i of IDIOMS) ratios.set(i, [...(ratios.get(i) ?? []), (got.get(i) as number) / (got.get('events') as number)]);
    }
    const none = median(results.get('none') ?? []);
    const line = (only !== undefined ? [only] : IDIOMS).map((i) => {
      const r = ratios.get(i) ?? [];
      return `${i} ${median(results.get(i) ?? []).toFixed(0)} ns (cost ÷ events ${median(r).toFixed(3)}, ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`;
    });
    console.log(`${size} B: none ${none.toFixed(0)} ns; ${line.join('; ')}`);
  }
  if (args.get('lifecycle') === 'no') return;
  const life = new Map<Idiom, number[]>();
  const lifeRatios = new Map<Idiom, number[]>();
  for (let rep = 0; rep < reps; rep++) {
    const order = [...IDIOMS.slice(rep % IDIOMS.length), ...IDIOMS.slice(0, rep % IDIOMS.length)];
    const got = new Map<Idiom, number>();
    for (const i of order) got.set(i, await measureLifecycle(i, ms));
    for (const [k, v] of got) life.set(k, [...(life.get(k) ?? []), v]);
    for (const i of IDIOMS) lifeRatios.set(i, [...(lifeRatios.get(i) ?? []), (got.get(i) as number) / (got.get('events') as number)]);
  }
  const line = IDIOMS.map((i) => {
    const r = lifeRatios.get(i) ?? [];
    return `${i} ${median(life.get(i) ?? []).toFixed(0)} ns (÷ events ${median(r).toFixed(3)}, ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`;
  });
  console.log(`connection lifetime (open, parked, peer's Close, Close echoed, closed): ${line.join('; ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
