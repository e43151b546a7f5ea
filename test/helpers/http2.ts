// HTTP/2 pieces for the RFC 8441 tests: servers on loopback (TLS or h2c), raw extended CONNECT streams,
// and a WebSocket client end made directly on such a stream (no wsflow client code involved).
import * as http2 from 'http2';
import type * as net from 'net';
import { WebSocket } from '../../src/connection/websocket';
import { makeCertificate } from './tls';

export const tlsMaterial = makeCertificate();

export interface H2Server {
  server: http2.Http2SecureServer | http2.Http2Server;
  port: number;
  /** The origin, `https://127.0.0.1:port` or `http://…` for h2c. */
  origin: string;
  /** Sessions the server accepted, to destroy at the end. */
  sessions: Set<http2.ServerHttp2Session>;
  close(): Promise<void>;
}

/** An HTTP/2 server on 127.0.0.1 (a free port), TLS with the throw-away certificate unless `h2c`. */
export async function startH2Server(
  opts: { h2c?: boolean; allowHTTP1?: boolean; settings?: http2.Settings } = {},
  setup: (server: http2.Http2SecureServer | http2.Http2Server) => void = () => undefined,
): Promise<H2Server> {
  let server: http2.Http2SecureServer | http2.Http2Server;
  if (opts.h2c === true) {
    server = http2.createServer({ settings: opts.settings });
  } else {
    if (tlsMaterial === null) throw new Error('openssl is needed to make a certificate');
    server = http2.createSecureServer({ ...tlsMaterial, allowHTTP1: opts.allowHTTP1 ?? false, settings: opts.settings });
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sessions.delete(s));
  });
  setup(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    origin: `${opts.h2c === true ? 'http' : 'https'}://127.0.0.1:${port}`,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client session to `origin` (certificate checks off: it is our throw-away one), once its SETTINGS arrived. */
export async function openSession(origin: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(origin, { rejectUnauthorized: false });
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** The headers of an extended CONNECT for a WebSocket at `path`, overridden by `extra`. */
export function connectHeaders(path = '/', extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  return { ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, 'sec-websocket-version': '13', ...extra };
}

export interface RawAnswer {
  stream: http2.ClientHttp2Stream;
  status: number;
  headers: http2.IncomingHttpHeaders;
  /** The whole body, once the stream ended (for refusals). */
  body: () => Promise<string>;
}

/** Sends `headers` on a new stream and resolves with the answer's head (rejects if the stream closes first). */
export function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<RawAnswer> {
  const stream = session.request(headers, { endStream: false });
  stream.on('error', () => undefined);
  return new Promise<RawAnswer>((resolve, reject) => {
    const onClose = (): void => reject(new Error(`The stream closed before an answer (RST code ${stream.rstCode})`));
    stream.once('close', onClose);
    stream.once('response', (h) => {
      stream.removeListener('close', onClose);
      const chunks: Buffer[] = [];
      let ended: Promise<string> | null = null;
      const body = (): Promise<string> =>
        (ended ??= new Promise<string>((done) => {
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.once('close', () => done(Buffer.concat(chunks).toString('utf8')));
        }));
      resolve({ stream, status: Number(h[':status']), headers: h, body });
    });
  });
}

/** A WebSocket client end over an accepted extended CONNECT stream: the codec alone, no wsflow client code. */
export async function rawH2WebSocket(
  session: http2.ClientHttp2Session,
  path = '/',
  extra: http2.OutgoingHttpHeaders = {},
): Promise<{ ws: WebSocket; answer: RawAnswer }> {
  const answer = await request(session, connectHeaders(path, extra));
  if (answer.status !== 200) throw new Error(`Refused with ${answer.status}: ${await answer.body()}`);
  return { ws: new WebSocket(answer.stream, Buffer.alloc(0), { isServer: false }), answer };
}
