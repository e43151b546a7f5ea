// The floor of the echo cells (bench/run.ts): a raw `net` server in Node that does the least any WebSocket
// echo server must do. It answers the upgrade (the accept key and a fixed 101, no header validation), then
// walks the frame headers, unmasks and sends the same frames back unmasked: no validation, no message
// assembly (a large frame streams through piece by piece as it arrives), no events, no promises, one
// socket.write per socket read. A Close is echoed and the socket ended after it. No Node WebSocket server
// can beat it by much, so every echo cell is also reported as a fraction of it.
//
//   node --expose-gc dist/bench/e2e/servers/floor-echo.js [--port 0]
//
// It unmasks with wsflow's own masking functions (the addon when installed, as wsflow does), so the
// fraction measures the library's work around them, not a different masking loop.
import * as net from 'net';
import { unmaskWithKey, rotateKey } from '../../../src/codec/mask';
import { computeAcceptKey } from '../../../src/handshake/accept';
import { parseArgs, serveControl } from './control';

const args = parseArgs(process.argv.slice(2));
const MAX_HEAD = 8192;
// Below this a fused byte loop (copy and XOR in one pass) beats a native call and a memmove.
const SMALL = 64;

/** Per-connection state of the frame walk: a connection is in a header or in a payload. */
class FloorConnection {
  /** Payload bytes of the current frame still to come (0: a header is next). */
  remaining = 0;
  /** Little-endian mask key of the current frame, rotated to the next payload byte's position. */
  key32 = 0;
  /** Payload position of the next byte (for rotating the key). */
  position = 0;
  /** Bytes of a header split across reads. */
  pending: Buffer | null = null;
  closing = false;

  constructor(readonly socket: net.Socket) {}

  onData(input: Buffer): void {
    let chunk = input;
    if (this.pending !== null) {
      chunk = Buffer.concat([this.pending, input]);
      this.pending = null;
    }
    const len = chunk.length;
    let r = 0;
    let w = 0;
    while (r < len) {
      if (this.remaining === 0) {
        // A header: 2 bytes, 2 or 8 more for the length, 4 for the key (clients always mask).
        if (len - r < 2) break;
        const b0 = chunk[r];
        const b1 = chunk[r + 1] & 0x7f;
        let hdr = 2;
        let payloadLength = b1;
        if (b1 === 126) {
          if (len - r < 4) break;
          payloadLength = chunk.readUInt16BE(r + 2);
          hdr = 4;
        } else if (b1 === 127) {
          if (len - r < 10) break;
          payloadLength = chunk.readUInt32BE(r + 2) * 2 ** 32 + chunk.readUInt32BE(r + 6);
          hdr = 10;
        }
        if (len - r < hdr + 4) break;
        const k = r + hdr;
        this.key32 = chunk[k] | (chunk[k + 1] << 8) | (chunk[k + 2] << 16) | (chunk[k + 3] << 24);
        // The same header without the mask bit and key, written over the bytes already consumed (w ≤ r).
        chunk[w] = b0;
        chunk[w + 1] = b1;
        for (let i = 2; i < hdr; i++) chunk[w + i] = chunk[r + i];
        w += hdr;
        r += hdr + 4;
        this.remaining = payloadLength;
        this.position = 0;
        if ((b0 & 0x0f) === 0x8) this.closing = true;
        if (payloadLength === 0) continue;
      }
      const n = Math.min(this.remaining, len - r);
      if (n < SMALL) {
        const key = rotateKey(this.key32, this.position);
        for (let i = 0; i < n; i++) chunk[w + i] = chunk[r + i] ^ (key >>> ((i & 3) << 3));
      } else {
        unmaskWithKey(chunk.subarray(r, r + n), rotateKey(this.key32, this.position));
        if (w !== r) chunk.copyWithin(w, r, r + n);
      }
      w += n;
      r += n;
      this.remaining -= n;
      this.position += n;
    }
    if (r < len) this.pending = Buffer.from(chunk.subarray(r));
    if (w > 0) this.socket.write(w === len ? chunk : chunk.subarray(0, w));
    if (this.closing && this.remaining === 0) this.socket.end();
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  let head: Buffer | null = null;
  const onHead = (chunk: Buffer): void => {
    head = head === null ? chunk : Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD) socket.destroy();
      return;
    }
    const key = /sec-websocket-key:[ \t]*([^\r\n]+)/i.exec(head.toString('latin1', 0, end));
    if (key === null) {
      socket.destroy();
      return;
    }
    socket.off('data', onHead);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key[1].trim())}\r\n\r\n`,
    );
    const conn = new FloorConnection(socket);
    socket.on('data', (chunk: Buffer) => conn.onData(chunk));
    if (head.length > end + 4) conn.onData(head.subarray(end + 4));
  };
  socket.on('data', onHead);
});
server.listen(Number(args.get('port') ?? 0), args.get('host') ?? '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  serveControl(address.port, { impl: 'floor' });
});
