// Shared pieces of the fan-out tests: a loopback server whose connections can be picked up one by one, and
// a tap on what a server connection writes to its socket.
import type * as net from 'net';
import { connect, WebSocketServer, type ConnectOptions, type WebSocket, type WebSocketServerOptions } from '../../src';

/** A WebSocketServer on 127.0.0.1 and the server side of each connection, in arrival order. */
export interface HubServer {
  wss: WebSocketServer;
  url: string;
  /** Opens a client and resolves with both ends (clients are opened one at a time, so the ends match). */
  open(options?: ConnectOptions): Promise<{ client: WebSocket; server: WebSocket }>;
  /** Terminates every connection and closes the server. */
  close(): Promise<void>;
}

export async function startHubServer(opts: WebSocketServerOptions = {}): Promise<HubServer> {
  const arrived: WebSocket[] = [];
  const waiting: Array<(ws: WebSocket) => void> = [];
  const clients: WebSocket[] = [];
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts }, (ws) => {
    const next = waiting.shift();
    if (next !== undefined) next(ws);
    else arrived.push(ws);
  });
  const { port } = await wss.listen();
  const url = `ws://127.0.0.1:${port}/`;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    wss,
    url,
    open(options?: ConnectOptions) {
      const result = chain.then(async () => {
        const serverSide = new Promise<WebSocket>((resolve) => {
          const early = arrived.shift();
          if (early !== undefined) resolve(early);
          else waiting.push(resolve);
        });
        const client = await connect(url, options);
        clients.push(client);
        return { client, server: await serverSide };
      });
      chain = result.catch(() => undefined);
      return result;
    },
    async close() {
      for (const c of clients) c.terminate();
      for (const s of wss.clients) s.terminate();
      await wss.close();
    },
  };
}

/** The socket under a connection (internal field). */
export function socketOf(ws: WebSocket): net.Socket {
  return (ws as unknown as { socket: net.Socket }).socket;
}

/**
 * Records every buffer a connection hands to its socket (the very objects, so identity shows sharing), and
 * how many times the socket reached the kernel through _write/_writev.
 */
export function tapWrites(ws: WebSocket): { buffers: Buffer[]; flushes: () => number } {
  const socket = socketOf(ws) as net.Socket & {
    _write: (...args: unknown[]) => unknown;
    _writev: (...args: unknown[]) => unknown;
  };
  const buffers: Buffer[] = [];
  let flushes = 0;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(chunk)) buffers.push(chunk);
    return write(chunk, ...rest);
  }) as typeof socket.write;
  const rawWrite = socket._write.bind(socket);
  const rawWritev = socket._writev.bind(socket);
  socket._write = (...args: unknown[]) => {
    flushes++;
    return rawWrite(...args);
  };
  socket._writev = (...args: unknown[]) => {
    flushes++;
    return rawWritev(...args);
  };
  return { buffers, flushes: () => flushes };
}

/** Resolves with the next `n` messages of `ws` as strings (text) or hex (binary). */
export async function readN(ws: WebSocket, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = await ws.readMessage();
    out.push(m.type === 'text' ? m.data.toString('utf8') : `bin:${m.data.toString('hex')}`);
  }
  return out;
}

/** Bounded wait for a condition that events make true (polled on timers, never a fixed sleep as proof). */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
