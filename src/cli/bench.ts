// `wsflow bench`: a closed-loop load run against any echo server. Each connection keeps `inflight` messages
// on the wire and sends the next one when an echo comes back, so the rate measured is what the server
// sustains, and each round trip (send → whole echo received) is timed. Bounded: it stops after --duration,
// waits a little for the last echoes, and closes every connection.
import { connect, type WebSocket } from '../index';
import { intOption, numberOption, parse, parseWsUrl, sleep, UsageError, type Io } from './args';

const HELP = `Usage: wsflow bench <url> [options]

Load-tests a WebSocket echo server (wsflow serve, or any server that sends each message back): opens
--conns connections, each keeping --inflight messages of --size bytes on the wire, for --duration
seconds. Progress is shown every second; a summary follows: msgs/s, MB/s, round-trip p50/p99, errors.

Options:
  --conns N        connections (default 4)
  --size B         payload bytes per message (default 64)
  --duration s     seconds to run (default 5)
  --inflight K     messages in flight per connection (default 1: pure round trips)
  --text           send text messages (default binary)
  --compression    offer permessage-deflate
  --json           print the summary as JSON
  -h, --help       this help

Exit status: 0 when the run completed, 1 when no connection could be opened or no echo came back.
`;

/** A latency histogram with buckets 1% wide: constant memory however long the run. */
export class Histogram {
  private static readonly GROWTH = Math.log(1.01);
  private readonly counts = new Map<number, number>();
  count = 0;
  max = 0;

  /** Records a value in microseconds. */
  record(us: number): void {
    const bucket = us <= 1 ? 0 : Math.ceil(Math.log(us) / Histogram.GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count++;
    if (us > this.max) this.max = us;
  }

  /** The value (µs, within 1%) at quantile `q` in [0, 1]; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket) as number;
      if (seen >= rank) return Math.min(this.max, Math.exp(bucket * Histogram.GROWTH));
    }
    return this.max;
  }
}

/** The result of a run. */
export interface BenchSummary {
  url: string;
  conns: number;
  size: number;
  inflight: number;
  seconds: number;
  messages: number;
  msgsPerSec: number;
  mbPerSec: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  errors: number;
  firstError?: string;
}

export interface BenchOptions {
  url: string;
  conns: number;
  size: number;
  duration: number;
  inflight: number;
  text: boolean;
  compression: boolean;
  /** Called about once a second with the counts so far. */
  onProgress?: (elapsed: number, messages: number, lastSecond: number, errors: number) => void;
}

/** Runs the load and resolves with the summary; never takes much longer than `duration` + a few seconds. */
export async function runBench(o: BenchOptions): Promise<BenchSummary> {
  const histogram = new Histogram();
  let messages = 0;
  let errors = 0;
  let firstError: string | undefined;
  const fail = (err: unknown): void => {
    errors++;
    firstError ??= err instanceof Error ? err.message : String(err);
  };

  // Connect all first, so the measured window does not include handshakes.
  const attempts = await Promise.allSettled(
    Array.from({ length: o.conns }, () => connect(o.url, { compression: o.compression, handshakeTimeout: 10_000 })),
  );
  const sockets: WebSocket[] = [];
  for (const a of attempts) {
    if (a.status === 'fulfilled') sockets.push(a.value);
    else fail(a.reason);
  }

  const payload = o.text ? Buffer.alloc(o.size, 'x') : Buffer.alloc(o.size, 0xa5);
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(o.duration * 1e9));
  let stopped = false;

  const runOne = async (ws: WebSocket): Promise<void> => {
    // Echoes come back in order on one connection: a FIFO of send times matches them up.
    const sent: bigint[] = [];
    const send = (): Promise<void> => {
      sent.push(process.hrtime.bigint());
      return ws.writeMessage(payload, o.text ? 'text' : 'binary');
    };
    // The first send is queued before the reader starts, so the reader has something to wait for.
    const first = send();
    const reader = (async () => {
      while (sent.length > 0) {
        const message = await ws.readMessage();
        const now = process.hrtime.bigint();
        const t0 = sent.shift() as bigint;
        if (message.data.length !== o.size) throw new Error(`echo of ${message.data.length} bytes, expected ${o.size}`);
        histogram.record(Number(now - t0) / 1000);
        messages++;
        if (!stopped && now < deadline) await send();
      }
    })();
    await first;
    for (let i = 1; i < o.inflight && !stopped; i++) await send();
    await reader;
  };

  let lastCount = 0;
  const ticker = setInterval(() => {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    o.onProgress?.(elapsed, messages, messages - lastCount, errors);
    lastCount = messages;
  }, 1000);
  const runs = sockets.map((ws) => runOne(ws).catch(fail));
  // Stop sending at the deadline, then give echoes on their way a moment before giving up on them.
  await Promise.race([Promise.all(runs), sleep(o.duration * 1000)]);
  stopped = true;
  await Promise.race([Promise.all(runs), sleep(2000)]);
  const seconds = Math.min(Number(process.hrtime.bigint() - start) / 1e9, o.duration) || o.duration;
  clearInterval(ticker);
  await Promise.all(
    sockets.map((ws) => Promise.race([ws.close(1000).catch(() => undefined), sleep(2000)]).then(() => ws.terminate())),
  );
  return {
    url: o.url,
    conns: o.conns,
    size: o.size,
    inflight: o.inflight,
    seconds,
    messages,
    msgsPerSec: messages / seconds,
    mbPerSec: (messages * o.size) / seconds / 1e6,
    p50ms: histogram.quantile(0.5) / 1000,
    p99ms: histogram.quantile(0.99) / 1000,
    maxms: histogram.max / 1000,
    errors,
    firstError,
  };
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function formatSummary(s: BenchSummary): string {
  return (
    `${s.url}: ${s.conns} conns × ${s.inflight} in flight, ${s.size} B messages, ${fmt(s.seconds)} s\n` +
    `  messages   ${s.messages} (${fmt(s.msgsPerSec)} msgs/s, ${fmt(s.mbPerSec)} MB/s)\n` +
    `  round trip p50 ${fmt(s.p50ms)} ms, p99 ${fmt(s.p99ms)} ms, max ${fmt(s.maxms)} ms\n` +
    `  errors     ${s.errors}${s.firstError !== undefined ? ` (first: ${s.firstError})` : ''}\n`
  );
}

export async function benchCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    conns: { type: 'string' },
    size: { type: 'string' },
    duration: { type: 'string' },
    inflight: { type: 'string' },
    text: { type: 'boolean' },
    compression: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`bench: unexpected argument ${JSON.stringify(positionals[1])}`);
  const url = parseWsUrl(positionals[0], 'bench');
  const options: BenchOptions = {
    url,
    conns: intOption(values.conns, 'conns', 4, 1, 10_000),
    size: intOption(values.size, 'size', 64, 0, 64 * 1024 * 1024),
    duration: numberOption(values.duration, 'duration', 5, 0.1, 3600),
    inflight: intOption(values.inflight, 'inflight', 1, 1, 1024),
    text: values.text === true,
    compression: values.compression === true,
  };
  const tty = io.stderr.isTTY === true;
  options.onProgress = (elapsed, total, lastSecond, errors) => {
    const line = `${fmt(elapsed)} s: ${lastSecond} msgs/s, ${total} echoes, ${errors} errors`;
    io.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  };
  const summary = await runBench(options);
  if (tty) io.stderr.write('\r\x1b[K');
  io.stdout.write(values.json === true ? JSON.stringify(summary) + '\n' : formatSummary(summary));
  return summary.messages > 0 ? 0 : 1;
}
