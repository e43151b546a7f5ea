// Streaming file upload, in bounded memory on both sides however big the file: the client sends the file
// as ONE binary message whose frames are written as the file is read (`nextWriter`), and the server writes
// each frame to disk as it arrives (`nextReader`); then it answers with the size and SHA-256 it received.
//
//   node dist/examples/file-upload.js serve --addr 127.0.0.1:8080 --dir ./uploads
//   node dist/examples/file-upload.js upload --addr 127.0.0.1:8080 ./big.iso
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Readable, Transform, Writable } from 'stream';
import { pipeline } from 'stream/promises';
import { connect, isCloseError, WebSocketServer } from '../src';
import type { WebSocket } from '../src';
import { parseAddr } from './args';

/** What the server answers for each upload. */
export interface UploadReceipt {
  bytes: number;
  sha256: string;
}

/** Counts and hashes what passes through, without holding on to it. */
function digester(): { stream: Transform; receipt: () => UploadReceipt } {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return { stream, receipt: () => ({ bytes, sha256: hash.digest('hex') }) };
}

/**
 * Receives uploads on one connection until it closes: each message is streamed to the Writable `open(n)`
 * returns (by default a file), and answered with an {@link UploadReceipt} as JSON text.
 */
export async function receiveUploads(ws: WebSocket, open: (index: number) => Writable): Promise<number> {
  let count = 0;
  for (;;) {
    let next: Awaited<ReturnType<WebSocket['nextReader']>>;
    try {
      next = await ws.nextReader();
    } catch (err) {
      if (isCloseError(err)) return count;
      throw err;
    }
    const { stream, receipt } = digester();
    // The frames are read only as fast as the disk takes them: the socket is paused in between.
    await pipeline(next.stream, stream, open(count++));
    await ws.writeMessage(JSON.stringify(receipt()));
  }
}

/** Starts an upload server writing files into `dir` (or wherever `open` says); resolves once it listens. */
export async function startUploadServer(options: {
  host?: string;
  port?: number;
  dir?: string;
  open?: (index: number) => Writable;
}): Promise<{ server: WebSocketServer; port: number }> {
  const dir = options.dir ?? '.';
  let files = 0;
  const open = options.open ?? (() => fs.createWriteStream(path.join(dir, `upload-${Date.now()}-${files++}.bin`)));
  const server = new WebSocketServer({ host: options.host, port: options.port ?? 0 }, (ws) => {
    receiveUploads(ws, open).catch(async (err: Error) => {
      // A failed write: tell the client, it cannot tell a half-written file from a whole one otherwise.
      await ws.close(1011, err.message.slice(0, 100)).catch(() => undefined);
    });
  });
  const { port } = await server.listen();
  return { server, port };
}

/** Uploads `source` (a file path or any byte stream) as one message and resolves with the server's receipt. */
export async function upload(url: string, source: string | Readable): Promise<UploadReceipt> {
  const ws = await connect(url);
  try {
    const input = typeof source === 'string' ? fs.createReadStream(source, { highWaterMark: 256 * 1024 }) : source;
    await pipeline(input, ws.nextWriter('binary'));
    const answer = await ws.readMessage();
    return JSON.parse(answer.data.toString('utf8')) as UploadReceipt;
  } finally {
    await ws.close(1000).catch(() => undefined);
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const { host, port, addr } = parseAddr(argv);
  const mode = argv[0];
  if (mode === 'serve') {
    const d = argv.indexOf('--dir');
    const dir = d >= 0 && argv[d + 1] !== undefined ? (argv[d + 1] as string) : '.';
    fs.mkdirSync(dir, { recursive: true });
    void startUploadServer({ host, port, dir }).then(({ port: actual }) => console.log(`receiving uploads on ws://${host}:${actual}/ into ${dir}`));
  } else if (mode === 'upload' && argv.length > 1) {
    const file = argv[argv.length - 1] as string;
    upload(`ws://${addr}/`, file).then(
      (r) => console.log(`uploaded ${r.bytes} bytes, sha256 ${r.sha256}`),
      (err: Error) => {
        console.error(err.message);
        process.exit(1);
      },
    );
  } else {
    console.error('usage: file-upload serve [--addr host:port] [--dir dir] | upload [--addr host:port] file');
    process.exit(2);
  }
}
