/**
 * Close codes of RFC 6455 §7.4.1 that wsflow sends or reports.
 * Codes 1005, 1006 and 1015 are never put on the wire; they only describe a close to the application.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;

/**
 * A protocol violation, by the peer or by the local application.
 * `closeCode` is the code the connection is (or was) closed with because of it.
 */
export class WebSocketError extends Error {
  override name = 'WebSocketError';
  /** The RFC 6455 close code that answers this error. */
  readonly closeCode: number;

  constructor(closeCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.closeCode = closeCode;
  }
}

/**
 * The connection is closed: what `readMessage()` rejects with, and what writes fail with, once it is.
 * `code` and `reason` are those the peer sent (1005 when it sent no code, 1006 when the TCP
 * connection was lost without a Close frame).
 */
export class CloseError extends Error {
  override name = 'CloseError';
  /** The close code received (or 1005 / 1006). */
  readonly code: number;
  /** The close reason received, possibly empty. */
  readonly reason: string;
  /** Whether the closing handshake completed before the TCP connection ended. */
  readonly wasClean: boolean;

  constructor(code: number, reason: string, wasClean: boolean, message?: string) {
    super(message ?? `WebSocket closed with code ${code}${reason ? `: ${reason}` : ''}`);
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/**
 * The opening handshake failed. On the server, `status` is the HTTP status that was answered;
 * on the client, the status the server answered (or 0 when no HTTP answer was read at all).
 */
export class HandshakeError extends Error {
  override name = 'HandshakeError';
  /** The HTTP status of the failed handshake, or 0 when there was none. */
  readonly status: number;
  /** Extra response headers the server must send with the error (e.g. `Sec-WebSocket-Version`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.headers = headers;
  }
}

/**
 * The proxy between the client and the server failed the attempt: it refused the tunnel (`status` is its
 * HTTP answer, e.g. 407 or 403; 407 also for a SOCKS authentication failure), could not be reached
 * (`status` 0, the network error as `cause`), answered something that is not its protocol, or, for
 * SOCKS, replied with an error (`socksReply`). It is a {@link HandshakeError}, so code that only knows
 * those keeps working; the message names the proxy without its credentials.
 */
export class ProxyError extends HandshakeError {
  override name = 'ProxyError';
  /** The proxy's URL without credentials, e.g. `http://127.0.0.1:3128`. */
  readonly proxy: string;
  /** For SOCKS: the reply code (SOCKS5 REP, SOCKS4 CD), or `undefined`. */
  readonly socksReply: number | undefined;

  constructor(proxy: string, status: number, message: string, options?: { cause?: unknown; socksReply?: number }) {
    super(status, message, {}, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.proxy = proxy;
    this.socksReply = options?.socksReply;
  }
}

/** True when `err` is a {@link CloseError} whose code is one of `codes` (any code when none is given). */
export function isCloseError(err: unknown, ...codes: number[]): err is CloseError {
  return err instanceof CloseError && (codes.length === 0 || codes.includes(err.code));
}

/**
 * True when `err` is a {@link CloseError} whose code is NOT one of the `expected` codes, as gorilla's
 * IsUnexpectedCloseError: the typical use is `isUnexpectedCloseError(err, 1000, 1001)` to log abnormal closes.
 */
export function isUnexpectedCloseError(err: unknown, ...expected: number[]): err is CloseError {
  return err instanceof CloseError && !expected.includes(err.code);
}
