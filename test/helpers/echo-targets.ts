// WebSocket echo servers for client tests: on a loopback TCP port (ws: or, with a certificate, wss:) or
// on a Unix socket, recording every request head they saw (upgrades and plain requests alike), with an
// optional hook that answers some requests itself (redirects, errors).
import * as http from 'http';
import * as https from 'https';
import type * as net from 'net';
import { Upgrader, type WebSocket } from '../../src';
import { echoMessages } from './servers';

export interface SeenHead {
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface EchoTarget {
  /** ws://127.0.0.1:port (or wss://localhost:port), or the socket path for Unix targets. */
  url: string;
  port: number;
  server: http.Server;
  seen: SeenHead[];
  /** Open server-side connections. */
  open: Set<WebSocket>;
  close(): Promise<void>;
}

export interface EchoTargetOptions {
  /** Serve wss: with this key and certificate. */
  tls?: { key: Buffer; cert: Buffer };
  /** Listen on this Unix socket path instead of a TCP port. */
  socketPath?: string;
  /** Return true after answering `res` yourself (no upgrade happens then). */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

/** Starts an echo server; every upgrade request is answered by a wsflow WebSocketServer unless intercepted. */
export async function startEchoTarget(opts: EchoTargetOptions = {}): Promise<EchoTarget> {
  const seen: SeenHead[] = [];
  const open = new Set<WebSocket>();
  const server: http.Server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }) : http.createServer();
  server.on('request', (_req, res) => res.writeHead(404, { Connection: 'close' }).end());
  const upgrader = new Upgrader();
  const sockets = new Set<net.Socket>();
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (opts.intercept !== undefined) {
      const res = new http.ServerResponse(req);
      res.assignSocket(socket);
      res.shouldKeepAlive = false;
      if (opts.intercept(req, res)) {
        res.once('finish', () => socket.end());
        return;
      }
      res.detachSocket(socket);
    }
    upgrader.upgrade(req, socket, head).then(
      (ws) => {
        open.add(ws);
        ws.once('close', () => open.delete(ws));
        void echoMessages(ws);
      },
      () => undefined,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (opts.socketPath !== undefined) server.listen(opts.socketPath, () => resolve());
    else server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = opts.socketPath !== undefined ? 0 : (server.address() as net.AddressInfo).port;
  return {
    url: opts.socketPath ?? `${opts.tls ? 'wss://localhost' : 'ws://127.0.0.1'}:${port}/`,
    port,
    server,
    seen,
    open,
    close: async () => {
      for (const ws of open) ws.terminate();
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
