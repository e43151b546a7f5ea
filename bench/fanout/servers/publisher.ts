// The publishing side of every Node server of the fan-out benchmark (bench/fanout/run.ts), one rule for
// all of them (the gorilla server, bench/fanout/gorilla-fanout, follows the same):
//
// - It listens on a control port (127.0.0.1, any free port, reported in the READY line). The subscriber
//   load generator connects once its subscribers are open and writes, as 8 big-endian bytes, how many
//   messages every subscriber has received so far (it sends a new value whenever that number moves).
// - At most `window` messages are published beyond that acknowledgement: the server publishes as fast
//   as its subscribers drain, whatever the implementation. With `rate` > 0 it also publishes no more
//   than `rate` messages per second (the same-rate latency cells).
// - Each message is a fresh copy of the payload template with its sequence number and a
//   CLOCK_MONOTONIC timestamp in ns (process.hrtime.bigint(), the clock of Go's runtime.nanotime) at
//   `stampAt`: 8+8 big-endian bytes for binary, 16+16 hex digits for text.
// - The control connection closing stops the publisher until the next one.
import * as fs from 'fs';
import * as net from 'net';
import { parseArgs } from '../../e2e/servers/control';

/** The payload and pacing a server was started with (`--payload --kind --stamp-at --window --rate`). */
export interface PublisherOptions {
  template: Buffer;
  text: boolean;
  stampAt: number;
  window: number;
  rate: number;
}

/** Reads the publisher's options from the command line (see the file's header). */
export function publisherOptions(args: Map<string, string>): PublisherOptions | null {
  const file = args.get('payload');
  if (file === undefined) return null;
  return {
    template: fs.readFileSync(file),
    text: args.get('kind') === 'text',
    stampAt: Number(args.get('stamp-at') ?? 0),
    window: Number(args.get('window') ?? 64),
    rate: Number(args.get('rate') ?? 0),
  };
}

export { parseArgs };

const HEX = '0123456789abcdef';

function writeHex(buf: Buffer, at: number, value: bigint): void {
  let v = value;
  for (let i = at + 15; i >= at; i--) {
    buf[i] = HEX.charCodeAt(Number(v & 15n));
    v >>= 4n;
  }
}

/** One stamped copy of the template. */
export function stampedPayload(o: PublisherOptions, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(o.template.length);
  o.template.copy(buf);
  const now = process.hrtime.bigint();
  if (o.text) {
    writeHex(buf, o.stampAt, BigInt(seq));
    writeHex(buf, o.stampAt + 16, now);
  } else {
    buf.writeBigUInt64BE(BigInt(seq), o.stampAt);
    buf.writeBigUInt64BE(now, o.stampAt + 8);
  }
  return buf;
}

/**
 * Starts the control listener; `publish(payload, seq)` is called for each message the rule allows.
 * Resolves with the control port.
 */
export function startPublisher(o: PublisherOptions, publish: (payload: Buffer, seq: number) => void): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let seq = 0;
    let acked = 0;
    let pending: Buffer = Buffer.alloc(0);
    let open = true;
    const start = process.hrtime.bigint();
    const pump = (): void => {
      let limit = acked + o.window;
      if (o.rate > 0) limit = Math.min(limit, Math.floor((Number(process.hrtime.bigint() - start) / 1e9) * o.rate) + 1);
      while (open && seq < limit) {
        publish(stampedPayload(o, seq), seq);
        seq++;
      }
    };
    const timer = o.rate > 0 ? setInterval(pump, 1) : null;
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const whole = pending.length - (pending.length % 8);
      if (whole === 0) return;
      acked = Number(pending.readBigUInt64BE(whole - 8));
      pending = pending.subarray(whole);
      pump();
    });
    const stop = (): void => {
      open = false;
      if (timer !== null) clearInterval(timer);
    };
    socket.on('error', stop);
    socket.on('close', stop);
    pump();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
