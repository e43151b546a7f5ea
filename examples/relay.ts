// A WebSocket-to-TCP bridge (like websockify): each WebSocket connection opens a TCP connection to the
// target and relays bytes both ways, with backpressure end to end (a slow side slows the other down
// instead of filling memory). Each binary message carries one chunk of the TCP stream.
//
//   node dist/examples/relay.js --addr 0.0.0.0:8080 --target 127.0.0.1:5432
//
// Ending: when the target closes its side, the WebSocket closes with 1000; when the WebSocket client
// closes, the TCP connection is ended. A target that cannot be reached or fails closes with 1014 (Bad Gateway).
import * as net from 'net';
import { pipeline } from 'stream/promises';
import { CloseCode, createByteDuplex, WebSocketError, WebSocketServer } from '../src';
import type { WebSocket } from '../src';
import { parseAddr } from './args';

/** Where to listen and where to relay to. */
export interface RelayOptions {
  host?: string;
  port?: number;
  /** Only this path is relayed (default: every path). */
  path?: string;
  target: { host: string; port: number };
}

/** Relays one WebSocket connection to a new TCP connection to `target`; resolves when both are done. */
export async function relayConnection(ws: WebSocket, target: { host: string; port: number }): Promise<void> {
  const tcp = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', reject);
    });
  } catch (err) {
    // The gateway could not reach its upstream: that is what 1014 means.
    await ws.close(CloseCode.BadGateway, `Target: ${(err as Error).message}`).catch(() => ws.terminate());
    return;
  }
  const bytes = createByteDuplex(ws, { type: 'binary' });
  // Registered before pipeline's own listeners: a TCP failure is the gateway's, so the client hears 1014.
  tcp.once('error', (err) => bytes.destroy(new WebSocketError(CloseCode.BadGateway, `Target: ${err.message}`)));
  try {
    // tcp → WebSocket → tcp: one pipeline, so that an error anywhere tears down both connections.
    await pipeline(tcp, bytes, tcp);
  } catch {
    // Already answered: the WebSocket closed with the failure's code, the socket was destroyed.
  } finally {
    tcp.destroy();
  }
}

/** Starts a relay server; resolves once it listens. */
export async function startRelay(options: RelayOptions): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ host: options.host, port: options.port ?? 0, path: options.path }, (ws) => {
    void relayConnection(ws, options.target);
  });
  const { port } = await server.listen();
  return { server, port };
}

function parseTarget(argv: string[]): { host: string; port: number } {
  const i = argv.indexOf('--target');
  if (i < 0 || argv[i + 1] === undefined) throw new Error('usage: relay [--addr host:port] --target host:port');
  const { host, port } = parseAddr(['--addr', argv[i + 1] as string]);
  return { host, port };
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const target = parseTarget(argv);
  const { host, port } = parseAddr(argv);
  startRelay({ host, port, target }).then(
    ({ server, port: actual }) => {
      console.log(`relaying ws://${host}:${actual}/ to ${target.host}:${target.port}`);
      process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
