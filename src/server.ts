// A small server for the common case: one HTTP server, one path, one Upgrader, a callback per connection,
// and a graceful shutdown. Anything fancier (several paths, auth before upgrading, a framework's router)
// should call `Upgrader.upgrade()` from its own 'upgrade' handler instead.
import { EventEmitter } from 'events';
import * as http from 'http';
import type * as http2 from 'http2';
import type * as https from 'https';
import type * as net from 'net';
import type * as stream from 'stream';
import type { WebSocket } from './connection/websocket';
import { Hub, type HubOptions } from './fanout/hub';
import { Refusal } from './handshake/refusal';
import { Upgrader, writeHandshakeError, type UpgradeCallback, type UpgraderOptions } from './handshake/server';
import { attachToHttp2Server } from './http2/server';
import { OpenConnections } from './open-connections';

/** Options of a {@link WebSocketServer}. */
export interface WebSocketServerOptions {
  /**
   * An existing HTTP(S) server to attach to; it stays the caller's: `close()` detaches from it but does
   * not close it. When omitted, the WebSocketServer creates (and owns) a plain HTTP server: see `listen()`.
   */
  server?: http.Server | https.Server;
  /**
   * An existing HTTP/2 server (`http2.createSecureServer`, or `http2.createServer` for h2c) to accept
   * WebSockets over HTTP/2 on (RFC 8441, see `Upgrader.attachHttp2`); with `allowHTTP1`, its HTTP/1.1
   * upgrades are accepted too. It stays the caller's, like `server`; the two cannot be combined.
   */
  http2?: http2.Http2SecureServer | http2.Http2Server;
  /** Port of the server it creates (0, the default, picks a free one). Not allowed with `server`. */
  port?: number;
  /** Host of the server it creates (default: all interfaces). Not allowed with `server`. */
  host?: string;
  /**
   * Only upgrade requests for this exact path (query ignored); others are answered 404 — or, on a shared
   * server with other 'upgrade' listeners, left to them. Default: every path.
   */
  path?: string;
  /** The Upgrader to use, or its options. Default: `new Upgrader()`. */
  upgrader?: Upgrader | UpgraderOptions;
  /**
   * The {@link Hub} behind `wss.hub`: a Hub (it stays yours: several servers may share it) or the options of
   * one the server creates, and closes in `close()`. Default: a Hub with default options, made on first use.
   */
  hub?: Hub | HubOptions;
}

const SHUTDOWN_CODE = 1001;

function noop(): void {
  /* replaced before use */
}
const SHUTDOWN_REASON = 'Server shutting down';

/** The request path without its query, for absolute-form request targets too. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  if (target.startsWith('/')) {
    const q = target.indexOf('?');
    return q === -1 ? target : target.slice(0, q);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return '';
  }
}

/**
 * Accepts WebSocket connections on one path of one HTTP server and keeps track of them, so that a
 * process can shut down cleanly: `close()` tells every client the server is going away (1001), waits
 * for the closing handshakes, then closes the HTTP server.
 *
 * Events: `'connection' (ws, req)` for each new connection; `'handshakeError' (err, req)` for each
 * refused or failed handshake (already answered — this is for logging); `'error' (err)` when a
 * 'connection' listener throws (rethrown asynchronously when nobody listens for 'error');
 * `'close'` once `close()` has finished.
 *
 * ```ts
 * const wss = new WebSocketServer({ port: 8080, path: '/ws' }, (ws, req) => { ... });
 * await wss.listen();
 * process.on('SIGTERM', () => void wss.close());
 * ```
 */
export class WebSocketServer extends EventEmitter {
  private readonly connections = new OpenConnections();
  private readonly pending = new Set<Promise<void>>();
  private readonly httpServer: http.Server | https.Server | http2.Http2SecureServer | http2.Http2Server;
  private readonly detachHttp2: (() => void) | null = null;
  private readonly pendingStreams = new Map<http.IncomingMessage, () => void>();
  private readonly ownsServer: boolean;
  private readonly port: number;
  private readonly host: string | undefined;
  private readonly path: string | undefined;
  private readonly upgrader: Upgrader;
  private closing: Promise<void> | null = null;
  private hubInstance: Hub | null;
  private readonly hubOptions: HubOptions | undefined;
  private readonly ownsHub: boolean;
  // One listener for every connection's 'close' (emitted once, with the connection as `this`): no closure each.
  private readonly untrack: (this: WebSocket) => void;
  private readonly onUpgrade = (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer): void =>
    this.handleUpgrade(req, socket, head);

  /** Sets up (but does not start) the server; `onConnection` is a shorthand for a 'connection' listener. */
  constructor(
    opts: WebSocketServerOptions = {},
    onConnection?: (ws: WebSocket, req: http.IncomingMessage) => void,
  ) {
    super();
    if ((opts.server !== undefined || opts.http2 !== undefined) && (opts.port !== undefined || opts.host !== undefined)) {
      throw new TypeError('port and host configure the server WebSocketServer creates; they cannot be used with server or http2');
    }
    if (opts.server !== undefined && opts.http2 !== undefined) {
      throw new TypeError('server and http2 cannot be combined: give one server (an HTTP/2 one with allowHTTP1 takes both)');
    }
    if (opts.path !== undefined && (typeof opts.path !== 'string' || !opts.path.startsWith('/'))) {
      throw new TypeError('path must be a string starting with "/"');
    }
    this.path = opts.path;
    if (opts.hub instanceof Hub) {
      this.hubInstance = opts.hub;
      this.ownsHub = false;
    } else {
      if (opts.hub !== undefined && (opts.hub === null || typeof opts.hub !== 'object')) {
        throw new TypeError('hub must be a Hub or HubOptions');
      }
      // Made on first use with these options (checked now, so a bad one fails at start-up).
      this.hubInstance = opts.hub === undefined ? null : new Hub(opts.hub);
      this.hubOptions = opts.hub;
      this.ownsHub = true;
    }
    const connections = this.connections;
    this.untrack = function (this: WebSocket) {
      connections.delete(this);
    };
    this.port = opts.port ?? 0;
    this.host = opts.host;
    this.upgrader = opts.upgrader instanceof Upgrader ? opts.upgrader : new Upgrader(opts.upgrader);
    if (opts.http2 !== undefined) {
      this.httpServer = opts.http2;
      this.ownsServer = false;
      this.detachHttp2 = attachToHttp2Server(this.upgrader, opts.http2, {
        gate: (req) => this.gateStream(req),
        done: (err, ws, req) => this.streamDone(err, ws, req),
      });
    } else if (opts.server !== undefined) {
      this.httpServer = opts.server;
      this.ownsServer = false;
    } else {
      this.httpServer = http.createServer((req, res) => this.handlePlainRequest(req, res));
      this.ownsServer = true;
    }
    this.httpServer.on('upgrade', this.onUpgrade);
    if (onConnection !== undefined) this.on('connection', onConnection);
  }

  /** The open connections, a live Set; each is removed when it emits 'close'. */
  get clients(): ReadonlySet<WebSocket> {
    return this.connections.asSet();
  }

  /**
   * The server's {@link Hub}, for topics and fan-out: `wss.hub.subscribe(ws, 'room')`, `wss.hub.publish('room', msg)`.
   * The one given in the options, else one made on first use (and closed by `close()`).
   */
  get hub(): Hub {
    return (this.hubInstance ??= new Hub(this.hubOptions));
  }

  /**
   * Starts the server this WebSocketServer created, on `port`/`host`, and resolves with its address.
   * Rejects when attached to a caller's server (start that one yourself) or when listening fails.
   */
  listen(): Promise<net.AddressInfo> {
    if (!this.ownsServer) {
      return Promise.reject(new Error('listen() is only for the server WebSocketServer creates; start your own server yourself'));
    }
    if (this.closing !== null) return Promise.reject(new Error('The WebSocketServer is closed'));
    const server = this.httpServer;
    const current = this.address();
    if (server.listening && current !== null) return Promise.resolve(current);
    return new Promise<net.AddressInfo>((resolve, reject) => {
      const onError = (err: Error): void => {
        server.removeListener('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        server.removeListener('error', onError);
        const address = this.address();
        if (address === null) reject(new Error('The server is not listening on a TCP address'));
        else resolve(address);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(this.port, this.host);
    });
  }

  /** The TCP address the HTTP server listens on, or null before it listens (or on a pipe). */
  address(): net.AddressInfo | null {
    const address = this.httpServer.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  /**
   * Graceful shutdown: refuses new upgrades (503), lets handshakes in flight finish, sends every client a
   * Close with 1001 "Server shutting down" and waits until each connection has closed (the connection's
   * own closeTimeout bounds a peer that never answers), then closes the HTTP server if this object
   * created it, or detaches from it otherwise. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      let serverClosed: Promise<void> = Promise.resolve();
      if (this.ownsServer) {
        // Stop accepting now; the callback comes once every socket, upgraded ones included, is gone.
        const server = this.httpServer as http.Server;
        serverClosed = new Promise<void>((resolve) => {
          server.close(() => resolve());
        });
        server.closeIdleConnections();
      }
      await Promise.allSettled([...this.pending]);
      await Promise.all(this.connections.toArray().map((ws) => closeConnection(ws)));
      await serverClosed;
      if (this.ownsHub && this.hubInstance !== null) await this.hubInstance.close();
      // Detached only now, so that upgrades arriving meanwhile are answered 503 rather than as plain HTTP.
      this.httpServer.removeListener('upgrade', this.onUpgrade);
      this.detachHttp2?.();
      this.emit('close');
    })();
    return this.closing;
  }

  private matchesPath(req: http.IncomingMessage): boolean {
    return this.path === undefined || pathOf(req.url) === this.path;
  }

  /** Plain HTTP to the server it created: this is a WebSocket endpoint, say so (426) or 404. */
  private handlePlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const found = this.matchesPath(req);
    const status = found ? 426 : 404;
    const body = found ? 'This is a WebSocket endpoint: upgrade the connection.\n' : 'Not Found\n';
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    };
    if (found) headers['Upgrade'] = 'websocket';
    res.writeHead(status, headers);
    res.end(body);
  }

  private handleUpgrade(req: http.IncomingMessage, socket: stream.Duplex, head: Buffer): void {
    if (!this.matchesPath(req)) {
      // On a shared server another listener may own this path; only answer when nobody else can.
      if (!this.ownsServer && this.httpServer.listenerCount('upgrade') > 1) return;
      writeHandshakeError(socket, 404, 'Not Found');
      return;
    }
    if (this.closing !== null) {
      writeHandshakeError(socket, 503, 'Server shutting down');
      return;
    }
    let settled = false;
    let release: (() => void) | null = null;
    const done: UpgradeCallback = (err, ws) => {
      settled = true;
      if (ws !== null) this.adopt(ws, req);
      else this.emitSafely('handshakeError', err ?? new Error('The opening handshake failed'), req);
      if (release !== null) release();
    };
    try {
      this.upgrader.handleUpgrade(req, socket, head, undefined, done);
    } catch (err) {
      // A bug of ours must not take the HTTP server down with it: drop this socket and report.
      socket.destroy();
      if (!settled) done(err instanceof Error ? err : new Error(String(err)), null);
      return;
    }
    // Only an asynchronous checkOrigin leaves the handshake in flight; close() waits for those.
    if (!settled) {
      const attempt = new Promise<void>((resolve) => (release = resolve));
      this.pending.add(attempt);
      void attempt.then(() => this.pending.delete(attempt));
    }
  }

  /** Before an HTTP/2 WebSocket stream's handshake: its path and our state, as for an 'upgrade'. */
  private gateStream(req: http.IncomingMessage): Refusal | undefined {
    if (!this.matchesPath(req)) return new Refusal(404, 'Not Found');
    if (this.closing !== null) return new Refusal(503, 'Server shutting down');
    // Handshakes in flight (an asynchronous checkOrigin) are waited for by close(), as on HTTP/1.1.
    let release: () => void = noop;
    const attempt = new Promise<void>((resolve) => (release = resolve));
    this.pending.add(attempt);
    void attempt.then(() => this.pending.delete(attempt));
    this.pendingStreams.set(req, release);
    return undefined;
  }

  private streamDone(err: Error | null, ws: WebSocket | null, req: http.IncomingMessage): void {
    const release = this.pendingStreams.get(req);
    this.pendingStreams.delete(req);
    if (ws !== null) this.adopt(ws, req);
    else this.emitSafely('handshakeError', err ?? new Error('The opening handshake failed'), req);
    release?.();
  }

  // Listener errors go to 'error' (or are rethrown asynchronously): never into the HTTP server's emit.
  private emitSafely(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      if (event !== 'error' && this.listenerCount('error') > 0) this.emit('error', err);
      else
        process.nextTick(() => {
          throw err;
        });
    }
  }

  private adopt(ws: WebSocket, req: http.IncomingMessage): void {
    this.connections.add(ws);
    ws.on('close', this.untrack);
    if (this.closing !== null) {
      // Upgraded while shutting down: close() awaits it through `connections`.
      return;
    }
    this.emitSafely('connection', ws, req);
  }
}

/** Sends Close 1001 and resolves once the connection has closed (bounded by its closeTimeout). Never rejects. */
async function closeConnection(ws: WebSocket): Promise<void> {
  try {
    await ws.close(SHUTDOWN_CODE, SHUTDOWN_REASON);
  } catch {
    // close() only fails on an invalid code or reason, which ours are not; fall back to the event anyway.
    if (ws.readyState !== 'closed') await new Promise<void>((resolve) => ws.once('close', () => resolve()));
  }
}
