// The transport seam: the one step that produces the byte stream the opening handshake is written to —
// direct TCP or TLS, a Unix socket, an HTTP CONNECT tunnel (through an http: or https: proxy, TLS inside
// TLS for wss:), a SOCKS tunnel, or the application's own createConnection. Whatever it yields is a
// connected Duplex; the HTTP/1.1 upgrade runs over it the same way in every case.
import * as net from 'net';
import { Duplex } from 'stream';
import * as tls from 'tls';
import { ProxyError } from '../errors';
import { httpConnect } from './http-connect';
import type { ProxyConfig } from './proxy-url';
import { ProxyReader } from './reader';
import { socksConnect } from './socks';

/** TLS settings passed through to `tls.connect` for `wss://` URLs (ignored for `ws://`). */
export type ConnectTlsOptions = Pick<
  tls.ConnectionOptions,
  | 'ca'
  | 'cert'
  | 'key'
  | 'pfx'
  | 'passphrase'
  | 'rejectUnauthorized'
  | 'servername'
  | 'checkServerIdentity'
  | 'minVersion'
  | 'maxVersion'
  | 'ciphers'
  | 'ecdhCurve'
  | 'crl'
  | 'secureContext'
>;

/** The keys of {@link ConnectTlsOptions}, to copy them out of a larger options object. */
export const TLS_KEYS: readonly (keyof ConnectTlsOptions)[] = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
  'checkServerIdentity',
  'minVersion',
  'maxVersion',
  'ciphers',
  'ecdhCurve',
  'crl',
  'secureContext',
];

/** The TLS settings among `source`'s own keys. */
export function pickTlsOptions(source: object): ConnectTlsOptions {
  const from = source as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of TLS_KEYS) if (from[k] !== undefined) out[k] = from[k];
  return out as ConnectTlsOptions;
}

/**
 * What a custom {@link CreateConnection} is asked for. The fields are those of `net.connect` and
 * `tls.connect`, so `(o) => tls.connect(o)` or `(o) => net.connect(o)` are valid transports.
 */
export interface TransportOptions extends ConnectTlsOptions {
  /** The target's host name or IP address (IPv6 without brackets). */
  host: string;
  /** The target's port. */
  port: number;
  /** The Unix socket path, when the URL or `socketPath` named one. */
  path?: string;
  /** Whether the URL was `wss:`: the transport must then be TLS (the handshake does not add it). */
  secure: boolean;
  /** Aborted when the attempt is abandoned (timeout, `signal`): the transport should stop. */
  signal: AbortSignal;
}

/**
 * A custom transport: returns the Duplex (or a promise of it) the opening handshake is written to, e.g.
 * an in-memory pair in tests or a tunnel of the application's making. For `wss:` it does the TLS itself.
 */
export type CreateConnection = (options: TransportOptions) => Duplex | Promise<Duplex>;

/** Everything {@link openTransport} needs to know: where to, and how. */
export interface TransportPlan {
  secure: boolean;
  /** The target (IPv6 without brackets). */
  hostname: string;
  port: number;
  socketPath: string | undefined;
  proxy: ProxyConfig | null;
  /** Extra CONNECT request headers, already checked. */
  proxyHeaders: Readonly<Record<string, string>>;
  /** TLS settings for the target. */
  tls: ConnectTlsOptions;
  /** TLS settings for an https: proxy. */
  proxyTls: ConnectTlsOptions;
  createConnection: CreateConnection | undefined;
}

/** SNI: the host name, never an IP literal (RFC 6066 §3), unless the settings name one. */
function tlsTarget(tlsOptions: ConnectTlsOptions, hostname: string): tls.ConnectionOptions {
  const servername = tlsOptions.servername ?? (net.isIP(hostname) === 0 ? hostname : undefined);
  return { ...tlsOptions, host: hostname, servername };
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

/** Resolves once `socket` emitted `event`; rejects on its error (mapped by `mapError`) or on abort. */
function connected(socket: net.Socket, event: 'connect' | 'secureConnect', signal: AbortSignal, mapError: (err: Error) => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      socket.removeListener(event, onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onConnect = (): void => {
      done();
      resolve();
    };
    const onError = (err: Error): void => {
      done();
      reject(mapError(err));
    };
    const onClose = (): void => onError(Object.assign(new Error('socket closed before it connected'), { code: 'ECONNRESET' }));
    const onAbort = (): void => {
      done();
      reject(abortReason(signal));
    };
    socket.on(event, onConnect);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Opens a tunnel through `plan.proxy` and returns the socket to the target (TLS added for wss:). */
async function throughProxy(plan: TransportPlan, proxy: ProxyConfig, signal: AbortSignal): Promise<Duplex> {
  const secureProxy = proxy.kind === 'https';
  const raw: net.Socket = secureProxy
    ? tls.connect({ ...tlsTarget(plan.proxyTls, proxy.hostname), port: proxy.port })
    : net.connect({ host: proxy.hostname, port: proxy.port });
  raw.on('error', ignoreError);
  const reader = new ProxyReader(raw, () => new ProxyError(proxy.display, 0, `The proxy ${proxy.display} closed the connection before the tunnel was open`));
  const onAbort = (): void => {
    reader.fail(abortReason(signal));
    raw.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await connected(raw, secureProxy ? 'secureConnect' : 'connect', signal, (err) =>
      new ProxyError(proxy.display, 0, `Cannot reach the proxy ${proxy.display}: ${err.message}`, { cause: err }),
    );
    try {
      if (proxy.kind === 'http' || proxy.kind === 'https') {
        await httpConnect(raw, reader, proxy, plan.hostname, plan.port, plan.proxyHeaders);
      } else {
        await socksConnect(raw, reader, proxy, plan.hostname, plan.port);
      }
    } catch (err) {
      if (err instanceof ProxyError || signal.aborted || !(err instanceof Error)) throw err;
      throw new ProxyError(proxy.display, 0, `The connection to the proxy ${proxy.display} failed: ${err.message}`, { cause: err });
    }
    reader.release(() => new ProxyError(proxy.display, 0, `The proxy ${proxy.display} sent data after opening the tunnel, before the request`));
    if (!plan.secure) return raw;
    const inner = tls.connect({ ...tlsTarget(plan.tls, plan.hostname), socket: raw });
    inner.on('error', ignoreError);
    try {
      await connected(inner, 'secureConnect', signal, (err) => err);
    } catch (err) {
      inner.destroy();
      throw err;
    } finally {
      inner.removeListener('error', ignoreError);
    }
    return inner;
  } catch (err) {
    raw.destroy();
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    raw.removeListener('error', ignoreError);
  }
}

function ignoreError(): void {
  /* the promise in flight reports it */
}

/** Errors a transport emitted before the handshake listened: kept for {@link adoptTransport}. */
const heldErrors = new WeakMap<Duplex, Error>();

function holdErrors(this: Duplex, err: Error): void {
  if (!heldErrors.has(this)) heldErrors.set(this, err);
}

/**
 * Takes over a stream from {@link openTransport}: stops holding its errors and returns the first one
 * it emitted meanwhile (a connect error can be emitted on the next tick, before the caller listens).
 */
export function adoptTransport(socket: Duplex): Error | undefined {
  socket.removeListener('error', holdErrors);
  const err = heldErrors.get(socket);
  heldErrors.delete(socket);
  return err;
}

/**
 * The seam: opens the byte stream the opening handshake is written to, following `plan`. A direct
 * socket is returned while it connects; a proxy tunnel once open; a custom transport as soon as it
 * returns its Duplex. Aborting `signal` destroys what was opened and rejects with the signal's reason. The caller
 * passes the stream to {@link adoptTransport} once it listens for errors itself.
 */
export async function openTransport(plan: TransportPlan, signal: AbortSignal): Promise<Duplex> {
  if (signal.aborted) throw abortReason(signal);
  let socket: Duplex;
  if (plan.createConnection !== undefined) {
    const options: TransportOptions = {
      ...plan.tls,
      ...(plan.secure ? tlsTarget(plan.tls, plan.hostname) : {}),
      host: plan.hostname,
      port: plan.port,
      secure: plan.secure,
      signal,
    };
    if (plan.socketPath !== undefined) options.path = plan.socketPath;
    const made = plan.createConnection(options);
    if (made instanceof Promise) {
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortReason(signal));
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        socket = await Promise.race([made, aborted]);
      } catch (err) {
        // A transport that answers after the attempt was abandoned: close what it makes.
        if (signal.aborted) made.then((late) => late instanceof Duplex && late.destroy(), ignoreError);
        throw err;
      } finally {
        signal.removeEventListener('abort', onAbort as () => void);
      }
    } else {
      socket = made;
    }
    if (!(socket instanceof Duplex)) throw new TypeError('createConnection must return a Duplex stream (or a promise of one)');
    socket.on('error', holdErrors);
    return socket;
  }
  if (plan.proxy !== null && plan.socketPath === undefined) {
    socket = await throughProxy(plan, plan.proxy, signal);
    socket.on('error', holdErrors);
    return socket;
  }
  const where = plan.socketPath !== undefined ? { path: plan.socketPath } : { host: plan.hostname, port: plan.port };
  // Handed over while still connecting, as http.request does with its own sockets: the request is
  // queued on it, and its connect and TLS errors reach the request's 'error'.
  const direct = plan.secure ? tls.connect({ ...tlsTarget(plan.tls, plan.hostname), ...where }) : net.connect(where);
  direct.on('error', holdErrors);
  return direct;
}
