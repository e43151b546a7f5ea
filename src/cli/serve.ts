// `wsflow serve`: an echo endpoint at /echo, and at / either the echo page or static files from --dir.
// Static files are served read-only and confined to the directory: a request path is decoded, normalized
// and resolved (symlinks included) before anything is opened, and whatever lands outside is refused.
import * as fs from 'fs';
import * as http from 'http';
import type * as net from 'net';
import * as path from 'path';
import { WebSocketServer } from '../index';
import { parse, parseAddr, UsageError, type Io } from './args';
import { echoPage } from './echo-page';

const HELP = `Usage: wsflow serve [--addr host:port] [--echo] [--dir public/] [--quiet]

An echo server: every message sent to ws://host:port/echo comes back with its type. At / it serves a page
to try it from a browser; with --dir it serves that directory's files instead (echo still at /echo).
permessage-deflate is accepted when the client offers it.

Options:
  --addr host:port   where to listen (default localhost:8080; port 0 picks a free one)
  --echo             the echo page at / (the default without --dir)
  --dir path         serve static files from path (index.html for directories; no dotfiles)
  --quiet            do not log connections
  -h, --help         this help

Stop with Ctrl-C: open connections are closed with 1001 first.
`;

/** Content types by extension; anything else is application/octet-stream. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.pdf': 'application/pdf',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

function answer(res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Where a request path points inside `root` (a realpath), or a status to answer: 400 for a path that does
 * not decode, 403 for one that escapes `root` (`..`, an absolute or drive path, a symlink out), 404 for
 * dotfiles and anything missing.
 */
export async function resolveStatic(root: string, urlPath: string): Promise<{ file: string; size: number } | { status: number; location?: string }> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { status: 400 };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { status: 400 };
  const segments = decoded.split('/');
  if (segments.includes('..')) return { status: 403 };
  if (segments.some((s) => s.startsWith('.') && s !== '')) return { status: 404 };
  let target = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (target !== root && !target.startsWith(root + path.sep)) return { status: 403 };
  try {
    // Symlinks are followed, but only to places still inside root.
    target = await fs.promises.realpath(target);
    if (target !== root && !target.startsWith(root + path.sep)) return { status: 403 };
    let stat = await fs.promises.stat(target);
    if (stat.isDirectory()) {
      if (!urlPath.endsWith('/')) return { status: 301, location: urlPath + '/' };
      target = path.join(target, 'index.html');
      stat = await fs.promises.stat(target);
    }
    if (!stat.isFile()) return { status: 404 };
    return { file: target, size: stat.size };
  } catch {
    return { status: 404 };
  }
}

/** The HTTP handler for `--dir`: GET and HEAD of the files under `root`, nothing else. */
export function staticHandler(root: string): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const urlPath = q === -1 ? raw : raw.slice(0, q);
    if (!urlPath.startsWith('/')) {
      answer(res, 400, 'Bad Request\n');
      return;
    }
    void resolveStatic(root, urlPath).then((found) => {
      if ('status' in found) {
        const headers: http.OutgoingHttpHeaders = found.location !== undefined ? { Location: found.location } : {};
        answer(res, found.status, `${http.STATUS_CODES[found.status] ?? 'Error'}\n`, headers);
        return;
      }
      res.writeHead(200, {
        'Content-Type': contentTypeOf(found.file),
        'Content-Length': found.size,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = fs.createReadStream(found.file);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    });
  };
}

/** The HTTP handler without --dir: the echo page at / and /index.html. */
function pageHandler(): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const page = echoPage('/echo');
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && (url === '/' || url === '/index.html')) {
      answer(res, 200, page, { 'Content-Type': 'text/html; charset=utf-8' });
      return;
    }
    answer(res, 404, 'Not Found\n');
  };
}

/** A running `wsflow serve`. */
export interface ServeHandle {
  address: net.AddressInfo;
  close(): Promise<void>;
}

/** Starts the server: echo at /echo, and the page or `dir` for plain HTTP. */
export async function startServe(options: { host: string; port: number; dir?: string; log?: (line: string) => void }): Promise<ServeHandle> {
  const log = options.log ?? (() => undefined);
  let files: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  if (options.dir !== undefined) {
    let root: string;
    try {
      root = await fs.promises.realpath(options.dir);
      if (!(await fs.promises.stat(root)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new UsageError(`--dir ${JSON.stringify(options.dir)} is not a directory`);
    }
    files = staticHandler(root);
  }
  const fallback = files ?? pageHandler();
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] === '/echo') {
      answer(res, 426, 'This is a WebSocket endpoint: upgrade the connection.\n', { Upgrade: 'websocket' });
      return;
    }
    fallback(req, res);
  });
  const wss = new WebSocketServer({ server, path: '/echo', upgrader: { compression: true } }, (ws, req) => {
    const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    log(`${peer} connected${ws.protocol ? ` (protocol ${ws.protocol})` : ''}`);
    ws.on('close', ({ code, reason }) => log(`${peer} closed: ${code}${reason ? ` ${reason}` : ''}`));
    void (async () => {
      for await (const message of ws) await ws.writeMessage(message.data, message.type);
    })().catch((err: Error) => log(`${peer} error: ${err.message}`));
  });
  wss.on('handshakeError', (err: Error) => log(`handshake refused: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  return {
    address: server.address() as net.AddressInfo,
    close: () =>
      (closing ??= wss.close().then(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      )),
  };
}

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    addr: { type: 'string' },
    echo: { type: 'boolean' },
    dir: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve: unexpected argument ${JSON.stringify(positionals[0])}`);
  const { host, port } = parseAddr(typeof values.addr === 'string' ? values.addr : 'localhost:8080');
  const dir = typeof values.dir === 'string' ? values.dir : undefined;
  const log = values.quiet === true ? undefined : (line: string) => io.stdout.write(`${line}\n`);
  let handle: ServeHandle;
  try {
    handle = await startServe({ host, port, dir, log });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    io.stderr.write(`wsflow serve: cannot listen on ${host}:${port}: ${(err as Error).message}\n`);
    return 1;
  }
  const { address, family, port: actual } = handle.address;
  const shown = host === 'localhost' ? 'localhost' : family === 'IPv6' ? `[${address}]` : address;
  io.stdout.write(
    `wsflow serve: http://${shown}:${actual}/ (${dir !== undefined ? `files from ${dir}` : 'echo page'}; WebSocket echo at ws://${shown}:${actual}/echo)\n`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) {
        resolve(1);
        return;
      }
      stopping = true;
      io.stdout.write('shutting down: closing connections with 1001\n');
      void handle.close().then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
