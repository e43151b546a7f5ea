// Reconnecting clients: an async iterable of connections to one URL, the next one opened (after a
// backoff) when the last ended in a way worth retrying. It lives above the handshake and the connection
// floors, in its own folder, because it is policy built from both — connect() to open, the connection's
// 'close' to learn how it ended — and neither should know about it.
import type { CloseInfo } from '../connection/websocket';
import type { WebSocket } from '../connection/websocket';
import { HandshakeError } from '../errors';
import { connect, type ConnectOptions } from '../handshake/client';

/** What ended the last attempt (the error `connect()` rejected with) or connection (how it closed). */
export type RetryReason = Error | CloseInfo;

/** What {@link ReconnectOptions.onRetry} is told before each wait. */
export interface RetryInfo {
  /** Why a retry happens. */
  reason: RetryReason;
  /** Which retry in a row this is: 1 for the first since the last stable connection. */
  attempt: number;
  /** Milliseconds until the next attempt. */
  delay: number;
  /** When the next attempt starts (`Date.now()` clock). */
  at: number;
}

/** Options of {@link reconnect}: those of `connect()` plus the retry policy. */
export interface ReconnectOptions extends ConnectOptions {
  /** Upper bound of the first delay, drawn in [0, initialDelay]. Default 1000 ms. */
  initialDelay?: number;
  /** Cap of the delays. Default 60 000 ms. */
  maxDelay?: number;
  /** Growth of the delay cap from one retry to the next. Default 1.618. */
  factor?: number;
  /** Attempts in a row (the first included) after which it gives up. Default Infinity. */
  maxAttempts?: number;
  /** A connection that stayed open this long resets the backoff. Default 10 000 ms. */
  resetAfter?: number;
  /** Whether to retry after this error or close; default {@link defaultShouldRetry}. */
  shouldRetry?: (reason: RetryReason) => boolean;
  /** Called before each wait: why, which retry, and when the next attempt is. */
  onRetry?: (info: RetryInfo) => void;
}

/** The policy's defaults (milliseconds; python `websockets`' factor). */
export const RECONNECT_DEFAULTS = {
  initialDelay: 1000,
  maxDelay: 60_000,
  factor: 1.618,
  maxAttempts: Infinity,
  resetAfter: 10_000,
} as const;

/** Close codes after which the server is expected back: going away, abnormal, internal error, restart, try again later, bad gateway. */
const RETRY_CLOSE_CODES: ReadonlySet<number> = new Set([1001, 1006, 1011, 1012, 1013, 1014]);
const RETRY_STATUSES: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/**
 * The default retry rule. Retry after: network errors (a system `code` such as ECONNREFUSED,
 * ECONNRESET, ENOTFOUND, ETIMEDOUT, ENOENT for a Unix socket), a handshake timeout or an unreachable
 * proxy (HandshakeError/ProxyError status 0), HTTP 500/502/503/504, and closes 1001, 1006, 1011, 1012,
 * 1013, 1014. Stop after anything else: closes 1000 and 1008 (and other codes), other HTTP statuses
 * (401, 403, 404, a 407 from the proxy…), an invalid 101, TLS certificate errors, bad options, an abort.
 */
export function defaultShouldRetry(reason: RetryReason): boolean {
  if (isCloseInfo(reason)) return RETRY_CLOSE_CODES.has(reason.code);
  if (reason.name === 'AbortError') return false;
  if (reason instanceof HandshakeError) return reason.status === 0 || RETRY_STATUSES.has(reason.status);
  const code = (reason as { code?: unknown }).code;
  // System errors (errno names); Node's own ERR_* codes and OpenSSL's certificate codes are not transient.
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code.replace(/_/g, '')) && !code.startsWith('ERR_');
}

/**
 * A close (from the connection's 'close' event) rather than an error. Not `instanceof Error`: errors
 * from another realm (a vm context, a test sandbox) are not instances of this realm's Error.
 */
function isCloseInfo(reason: RetryReason): reason is CloseInfo {
  return typeof reason === 'object' && reason !== null && !('message' in reason) && typeof (reason as CloseInfo).code === 'number';
}

interface Policy {
  initialDelay: number;
  maxDelay: number;
  factor: number;
  maxAttempts: number;
  resetAfter: number;
  shouldRetry: (reason: RetryReason) => boolean;
  onRetry: ((info: RetryInfo) => void) | undefined;
}

const MAX_TIMER = 0x7fffffff;

function milliseconds(name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v >= 0) || v > MAX_TIMER) {
    throw new RangeError(`${name} must be a number of milliseconds from 0 to 2^31-1, got ${String(v)}`);
  }
  return v;
}

function checkPolicy(o: ReconnectOptions): Policy {
  if (typeof o !== 'object' || o === null) throw new TypeError('options must be an object');
  const initialDelay = milliseconds('initialDelay', o.initialDelay, RECONNECT_DEFAULTS.initialDelay);
  const maxDelay = milliseconds('maxDelay', o.maxDelay, Math.max(RECONNECT_DEFAULTS.maxDelay, initialDelay));
  if (maxDelay < initialDelay) throw new RangeError(`maxDelay (${maxDelay}) must not be below initialDelay (${initialDelay})`);
  const factor = o.factor ?? RECONNECT_DEFAULTS.factor;
  if (typeof factor !== 'number' || !(factor >= 1) || factor > 100) throw new RangeError(`factor must be a number from 1 to 100, got ${String(factor)}`);
  const maxAttempts = o.maxAttempts ?? RECONNECT_DEFAULTS.maxAttempts;
  if (typeof maxAttempts !== 'number' || !(maxAttempts >= 1) || (maxAttempts !== Infinity && !Number.isInteger(maxAttempts))) {
    throw new RangeError(`maxAttempts must be a positive integer or Infinity, got ${String(maxAttempts)}`);
  }
  const resetAfter = milliseconds('resetAfter', o.resetAfter, RECONNECT_DEFAULTS.resetAfter);
  if (o.shouldRetry !== undefined && typeof o.shouldRetry !== 'function') throw new TypeError('shouldRetry must be a function');
  if (o.onRetry !== undefined && typeof o.onRetry !== 'function') throw new TypeError('onRetry must be a function');
  return { initialDelay, maxDelay, factor, maxAttempts, resetAfter, shouldRetry: o.shouldRetry ?? defaultShouldRetry, onRetry: o.onRetry };
}

/**
 * The wait before retry number `attempt` (1-based, in a row), with jitter drawn each time from
 * `random()` in [0, 1): the first in [0, initialDelay]; the n-th in [cap/2, cap], where
 * cap = min(maxDelay, initialDelay × factor^(n−1)).
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<Policy, 'initialDelay' | 'maxDelay' | 'factor'>,
  random: () => number = Math.random,
): number {
  if (attempt <= 1) return Math.round(random() * policy.initialDelay);
  const cap = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function ignore(): void {
  /* a close that fails has nobody to tell: the connection is going anyway */
}

async function* connections(url: string | URL, options: ConnectOptions, policy: Policy): AsyncGenerator<WebSocket, void, undefined> {
  const signal = options.signal;
  let failures = 0;
  for (;;) {
    if (signal?.aborted) return;
    let reason: RetryReason | undefined;
    let ws: WebSocket | undefined;
    try {
      ws = await connect(url, options);
    } catch (err) {
      if (signal?.aborted) return;
      reason = typeof err === 'object' && err !== null ? (err as Error) : new Error(String(err));
    }
    if (ws !== undefined) {
      const current = ws;
      const openedAt = Date.now();
      const closed = new Promise<CloseInfo>((resolve) => current.once('close', resolve));
      const onAbort = (): void => void current.close().catch(ignore);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        yield current;
        // The consumer is done with it; the next one is opened once this one has ended.
        reason = await closed;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        // Reached early when the consumer breaks out of its loop or throws: it wants no more.
        if (current.readyState === 'open') void current.close().catch(ignore);
      }
      if (signal?.aborted) return;
      if (Date.now() - openedAt >= policy.resetAfter) failures = 0;
    }
    const finalReason = reason as RetryReason;
    failures++;
    if (!policy.shouldRetry(finalReason) || failures >= policy.maxAttempts) {
      if (isCloseInfo(finalReason)) return;
      throw finalReason;
    }
    const delay = backoffDelay(failures, policy);
    policy.onRetry?.({ reason: finalReason, attempt: failures, delay, at: Date.now() + delay });
    if (!(await sleep(delay, signal))) return;
  }
}

/**
 * Connections to `url`, one after the other: `for await (const ws of reconnect(url, options)) { … }`.
 * Each connection is yielded once open; when the loop asks for the next, the current one is awaited
 * until it has closed, then `shouldRetry` decides on its close (or on the error of a failed attempt):
 * retry after a backoff (see {@link backoffDelay}), or stop — the loop ends after a close, or throws the
 * error of a failed attempt. `maxAttempts` attempts in a row end it the same way; a connection that
 * stayed open `resetAfter` ms starts the count again. Aborting `options.signal` ends the loop quietly
 * and closes the current connection; leaving the loop (break, throw) closes it too. Options are checked
 * now (RangeError/TypeError); the first attempt starts when iteration does.
 */
export function reconnect(url: string | URL, options: ReconnectOptions = {}): AsyncIterable<WebSocket> {
  const policy = checkPolicy(options);
  const { initialDelay: _i, maxDelay: _m, factor: _f, maxAttempts: _a, resetAfter: _r, shouldRetry: _s, onRetry: _o, ...connectOptions } = options;
  return { [Symbol.asyncIterator]: () => connections(url, connectOptions, policy) };
}
