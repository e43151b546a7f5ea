// The floor for the handshake cell: a Node server that does nothing a WebSocket library could skip.
// It computes the accept key, writes the 101, echoes the client's Close and ends the socket: no validation,
// no connection object, no frames beyond the Close. Any Node implementation pays at least this much per
// handshake, so its rate ÷ ws's bounds the handshakes/s ratio a library can show (docs/benchmarks.md).
//
//   taskset -c 0 node dist/bench/e2e/servers/handshake-floor.js [--port 9555] [--net] &
//   taskset -c 1 bench/.build/loadgen -mode handshake -srcs 16 -url ws://127.0.0.1:9555/ -pid $!
//
// --net parses the request head on a bare net.Server instead of node's http (the raw-upgrade idea).
import { createHash } from 'crypto';
import * as http from 'http';
import * as net from 'net';
import type { Duplex } from 'stream';
import { parseArgs } from './control';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CLOSE_1000 = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
const args = parseArgs(process.argv.slice(2));
const port = Number(args.get('port') ?? 9555);

function answer(socket: Duplex, key: string): void {
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.on('error', () => undefined);
  // The benchmark's client sends its Close in one segment: opcode 8 in the first byte is enough here.
  socket.on('data', (chunk: Buffer) => {
    if ((chunk[0] & 0x0f) === 0x8) socket.end(CLOSE_1000);
  });
}

const server = args.has('net')
  ? net.createServer((socket) => {
      socket.once('data', (head: Buffer) => {
        const key = /sec-websocket-key:[ \t]*([^\r\n]+)/i.exec(head.toString('latin1'));
        if (key === null) socket.destroy();
        else answer(socket, key[1].trim());
      });
    })
  : http.createServer().on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      answer(socket, String(req.headers['sec-websocket-key']));
    });
server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${port}\n`));
