/**
 * permessage-deflate (RFC 7692): negotiation in both roles, and the per-connection compressor/decompressor.
 *
 * The header grammar lives in ./extension-header, the process-wide cap on zlib work in ./zlib-limiter.
 */
import * as zlib from 'zlib';
import type { Utf8Validator } from '../codec/utf8';
import { CloseCode, HandshakeError, WebSocketError } from '../errors';
import { formatExtension, parseExtensionHeader, type ExtensionParam } from './extension-header';
import { DEFAULT_MAX_CONCURRENCY, zlibLimiter } from './zlib-limiter';

/** Options of permessage-deflate (RFC 7692) for `Upgrader` and `connect()`. */
export interface PerMessageDeflateOptions {
  /**
   * Server: always reset the compressor after each message, even if the client did not ask (saves
   * nothing but lets the server promise it). Client: ask the server to do so (and fail the handshake if it won't).
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: require the client to reset its compressor after each message (the server's inflater then
   * needs no window between messages). Client: promise to do so.
   */
  clientNoContextTakeover?: boolean;
  /**
   * 8–15. Server: largest LZ77 window the server compresses with (a client's smaller request wins).
   * Client: ask the server for at most this window (the handshake fails if the server answers bigger).
   */
  serverMaxWindowBits?: number;
  /**
   * 8–15. Server: the window the client must compress with; offers that cannot be constrained (no
   * `client_max_window_bits` in them) are then declined unless this is 15. Client: the largest window
   * the client compresses with, sent as a value of `client_max_window_bits`.
   */
  clientMaxWindowBits?: number;
  /** zlib compression level, 0–9 (or -1 for zlib's default, 6). Default {@link DEFAULT_LEVEL}. */
  level?: number;
  /** zlib memLevel, 1–9. Default {@link DEFAULT_MEM_LEVEL}. */
  memLevel?: number;
  /** Messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /** Process-wide cap on concurrent zlib jobs (see ./zlib-limiter for the rule). Default 10. */
  maxConcurrency?: number;
}

/** The parameters both sides agreed on. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** The registered extension token. */
export const EXTENSION_NAME = 'permessage-deflate';

/** Default of `threshold`: below ~1 KiB, framing and CPU cost more than compression saves. */
export const DEFAULT_THRESHOLD = 1024;

/**
 * Default zlib level: 1 (Z_BEST_SPEED), as gorilla/websocket. On small JSON-like messages, level 1 gets
 * within a few percent of the default level 6 (ws's choice) in ratio, because such messages are dominated
 * by short repeated keys that the fast matcher finds too, at a fraction of the CPU (deflate_fast never does
 * lazy matching). Raise it for large, highly redundant payloads where bandwidth matters more than CPU.
 */
export const DEFAULT_LEVEL = 1;

/**
 * Default zlib memLevel: 8, zlib's own default. The compressor costs about 2^(windowBits+2) + 2^(memLevel+9)
 * bytes, i.e. 256 KiB per connection at 15/8; memLevel 9 buys ~1% ratio for 128 KiB more, lower values save
 * memory on servers with many idle compressing connections at some ratio and speed cost.
 */
export const DEFAULT_MEM_LEVEL = 8;

/** The four octets RFC 7692 §7.2.1 strips from, and §7.2.2 appends to, each message. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** A final fragment that compressed to nothing is sent as this single empty stored block header (§7.2.3.6). */
const EMPTY_BLOCK = Buffer.from([0x00]);
const EMPTY = Buffer.alloc(0);
/** Final fragments up to this size are copied to append TAIL in a single zlib call (one thread-pool trip). */
const APPEND_COPY_LIMIT = 64 * 1024;
/**
 * Largest input (plaintext to compress, or compressed payload to inflate) the synchronous fast path takes.
 * At 16 KiB, level-1 deflate of JSON-like text costs some tens of µs on the event loop: still of the order of
 * the two thread-pool hand-offs it saves, so the event loop is never stalled much longer than the async path
 * would keep it busy anyway. Larger messages go to the pool, where they can run in parallel with the loop.
 */
const SYNC_INPUT_LIMIT = 16 * 1024;
/**
 * Most a synchronous inflate may produce before it gives up (and the message is redone asynchronously, or
 * fails with 1009 when that is already more than maxSize). Bounds the event-loop time of one inflate (~1 GB/s,
 * so ~0.25 ms) whatever the compression ratio, i.e. a bomb costs the loop at most this much before it is caught.
 */
const SYNC_INFLATE_CAP = 256 * 1024;
/** zlib's MIN_LOOKAHEAD: deflate never refers further back than 2^windowBits minus this. */
const MIN_LOOKAHEAD = 262;
const { Z_SYNC_FLUSH } = zlib.constants;

const MIN_WINDOW_BITS = 8;
const MAX_WINDOW_BITS = 15;

// ---------------------------------------------------------------------------------------------------------------
// Options

function checkBool(options: PerMessageDeflateOptions, key: 'serverNoContextTakeover' | 'clientNoContextTakeover'): void {
  const v = options[key];
  if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`perMessageDeflate.${key} must be a boolean`);
}

function checkInt(options: PerMessageDeflateOptions, key: keyof PerMessageDeflateOptions, min: number, max: number): void {
  const v = options[key];
  if (v === undefined) return;
  if (typeof v !== 'number') throw new TypeError(`perMessageDeflate.${key} must be a number`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`perMessageDeflate.${key} must be an integer from ${min} to ${max}, got ${v}`);
  }
}

/**
 * Throws a TypeError/RangeError describing the first invalid option. The negotiation functions and the
 * constructor call it; `Upgrader`/`connect()` should call it too so a bad configuration fails at start-up
 * rather than on the first handshake.
 */
export function validatePerMessageDeflateOptions(options: PerMessageDeflateOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('perMessageDeflate options must be an object');
  checkBool(options, 'serverNoContextTakeover');
  checkBool(options, 'clientNoContextTakeover');
  checkInt(options, 'serverMaxWindowBits', MIN_WINDOW_BITS, MAX_WINDOW_BITS);
  checkInt(options, 'clientMaxWindowBits', MIN_WINDOW_BITS, MAX_WINDOW_BITS);
  checkInt(options, 'level', -1, 9);
  checkInt(options, 'memLevel', 1, 9);
  const t = options.threshold;
  if (t !== undefined && (typeof t !== 'number' || Number.isNaN(t) || t < 0)) {
    throw new RangeError(`perMessageDeflate.threshold must be a number >= 0, got ${String(t)}`);
  }
  const c = options.maxConcurrency;
  if (c !== undefined && (typeof c !== 'number' || !(c === Infinity || (Number.isInteger(c) && c >= 1)))) {
    throw new RangeError(`perMessageDeflate.maxConcurrency must be an integer >= 1 (or Infinity), got ${String(c)}`);
  }
}

function validateParams(params: DeflateParams): void {
  for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits'] as const) {
    const v = params[key];
    if (!Number.isInteger(v) || v < MIN_WINDOW_BITS || v > MAX_WINDOW_BITS) {
      throw new RangeError(`DeflateParams.${key} must be an integer from 8 to 15, got ${String(v)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Negotiation

/** The parameters of one offer or response, validated against RFC 7692 §7.1 but not yet against our options. */
interface ReadParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: present without a value (only legal in an offer). */
  clientMaxWindowBits: number | true | undefined;
}

/** "a decimal integer value without leading zeroes between 8 to 15, inclusive" (RFC 7692 §7.1.2). A Map: no prototype. */
const WINDOW_BITS = new Map<string, number>([
  ['8', 8], ['9', 9], ['10', 10], ['11', 11], ['12', 12], ['13', 13], ['14', 14], ['15', 15],
]);

/** Validates the parameter list of one permessage-deflate element; returns the reason it is invalid as a string. */
function readParams(params: readonly ExtensionParam[]): ReadParams | string {
  const seen = new Set<string>();
  const r: ReadParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const { name, value } of params) {
    if (seen.has(name)) return `duplicate parameter "${name}"`;
    seen.add(name);
    switch (name) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== null) return `parameter "${name}" must not have a value`;
        if (name === 'server_no_context_takeover') r.serverNoContextTakeover = true;
        else r.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = value === null ? undefined : WINDOW_BITS.get(value);
        if (bits === undefined) return `parameter "${name}" must be an integer from 8 to 15`;
        r.serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === null) {
          r.clientMaxWindowBits = true;
          break;
        }
        const bits = WINDOW_BITS.get(value);
        if (bits === undefined) return `parameter "${name}" must be an integer from 8 to 15`;
        r.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter "${name}"`;
    }
  }
  return r;
}

function responseFor(p: DeflateParams, sendServerBits: boolean, sendClientBits: boolean): string {
  const out: ExtensionParam[] = [];
  if (p.serverNoContextTakeover) out.push({ name: 'server_no_context_takeover', value: null });
  if (p.clientNoContextTakeover) out.push({ name: 'client_no_context_takeover', value: null });
  if (sendServerBits) out.push({ name: 'server_max_window_bits', value: String(p.serverMaxWindowBits) });
  if (sendClientBits) out.push({ name: 'client_max_window_bits', value: String(p.clientMaxWindowBits) });
  return formatExtension(EXTENSION_NAME, out);
}

/**
 * Server's answer to one valid offer, or null to decline it. Semantics (o = offer, S = server options):
 *
 * - server_no_context_takeover: answered when o has it (accepting it means echoing it, §7.1.1.1) or
 *   S.serverNoContextTakeover (a server MAY add it unasked).
 * - client_no_context_takeover: answered when o has it (echoed so both ends record the same agreement)
 *   or S.clientNoContextTakeover (a server MAY require it, §7.1.1.2).
 * - server_max_window_bits: with o's value v we compress with min(v, S.serverMaxWindowBits ?? 15) and say so
 *   (we must answer with ≤ v, §7.1.2.1; a smaller request than our option simply wins). Without it we announce
 *   S.serverMaxWindowBits when set below 15 (allowed unasked; ws and browsers accept it).
 * - client_max_window_bits: without it in o we MUST NOT send it (§7.1.2.2), so an offer is declined when
 *   S.clientMaxWindowBits < 15 would need it. Present without value: we answer S.clientMaxWindowBits when set
 *   below 15, else omit it (the client may use 15). Present with value v: the client will not exceed v
 *   anyway, so we answer min(v, S.clientMaxWindowBits ?? 15) when below 15 — this also tells our inflater
 *   it may use a smaller window.
 */
function answerOffer(o: ReadParams, options: PerMessageDeflateOptions): { params: DeflateParams; response: string } | null {
  const serverOpt = options.serverMaxWindowBits;
  const clientOpt = options.clientMaxWindowBits;

  let serverBits = MAX_WINDOW_BITS;
  let sendServerBits = false;
  if (o.serverMaxWindowBits !== undefined) {
    serverBits = Math.min(o.serverMaxWindowBits, serverOpt ?? MAX_WINDOW_BITS);
    sendServerBits = true;
  } else if (serverOpt !== undefined && serverOpt < MAX_WINDOW_BITS) {
    serverBits = serverOpt;
    sendServerBits = true;
  }

  let clientBits = MAX_WINDOW_BITS;
  if (o.clientMaxWindowBits === undefined) {
    if (clientOpt !== undefined && clientOpt < MAX_WINDOW_BITS) return null;
  } else if (o.clientMaxWindowBits === true) {
    clientBits = clientOpt ?? MAX_WINDOW_BITS;
  } else {
    clientBits = Math.min(o.clientMaxWindowBits, clientOpt ?? MAX_WINDOW_BITS);
  }

  const params: DeflateParams = {
    serverNoContextTakeover: o.serverNoContextTakeover || options.serverNoContextTakeover === true,
    clientNoContextTakeover: o.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: serverBits,
    clientMaxWindowBits: clientBits,
  };
  return { params, response: responseFor(params, sendServerBits, clientBits < MAX_WINDOW_BITS) };
}

/**
 * Server side: picks the first acceptable offer of a `Sec-WebSocket-Extensions` request header, or null.
 *
 * Offers are tried in the client's order of preference (RFC 6455 §9.1); an offer with unknown, duplicated or
 * invalid parameters is declined and the next one tried; a header that does not parse declines everything
 * (the connection then simply goes uncompressed). Never throws because of the header: a hostile header must
 * not turn into a 500. Throws only for invalid `options` (a configuration error).
 */
export function negotiateServer(
  header: string | undefined,
  options: PerMessageDeflateOptions,
): { params: DeflateParams; response: string } | null {
  validatePerMessageDeflateOptions(options);
  if (typeof header !== 'string') return null;
  const list = parseExtensionHeader(header);
  if (list === null) return null;
  for (const ext of list) {
    if (ext.name !== EXTENSION_NAME) continue;
    const offer = readParams(ext.params);
    if (typeof offer === 'string') continue;
    const answer = answerOffer(offer, options);
    if (answer !== null) return answer;
  }
  return null;
}

/**
 * Client side: the `Sec-WebSocket-Extensions` offer to send. `client_max_window_bits` is always offered (bare
 * when the option is unset, as browsers do) so that servers configured to constrain our window can accept.
 * Throws a TypeError/RangeError for invalid options.
 */
export function buildClientOffer(options: PerMessageDeflateOptions): string {
  validatePerMessageDeflateOptions(options);
  const params: ExtensionParam[] = [];
  if (options.clientNoContextTakeover === true) params.push({ name: 'client_no_context_takeover', value: null });
  if (options.serverNoContextTakeover === true) params.push({ name: 'server_no_context_takeover', value: null });
  if (options.serverMaxWindowBits !== undefined) {
    params.push({ name: 'server_max_window_bits', value: String(options.serverMaxWindowBits) });
  }
  params.push({
    name: 'client_max_window_bits',
    value: options.clientMaxWindowBits === undefined ? null : String(options.clientMaxWindowBits),
  });
  return formatExtension(EXTENSION_NAME, params);
}

function refuse(reason: string): HandshakeError {
  return new HandshakeError(101, `Invalid Sec-WebSocket-Extensions response: ${reason}`);
}

/**
 * Client side: validates the server's answer to `buildClientOffer(options)`; throws HandshakeError(101, message)
 * when it cannot be honoured (RFC 7692 §5: the client must then fail the connection).
 *
 * Rules (RFC 7692 §7.1): exactly one element, permessage-deflate; no unknown, duplicate or out-of-range
 * parameter. server_no_context_takeover and client_no_context_takeover may come unasked (§7.1.1.1, §7.1.1.2);
 * server_no_context_takeover / server_max_window_bits must come back when we asked (that is how a server
 * accepts them) and the latter must not exceed what we asked. client_max_window_bits must carry a value
 * (we always offer the parameter, so it is always allowed); a value above our own `clientMaxWindowBits` is
 * harmless — by offering a value we promised not to exceed it (§7.1.2.2) — so we compress with the smaller one.
 */
export function acceptClientResponse(header: string, options: PerMessageDeflateOptions): DeflateParams {
  validatePerMessageDeflateOptions(options);
  if (typeof header !== 'string') throw refuse('missing');
  const list = parseExtensionHeader(header);
  if (list === null) throw refuse('malformed header');
  if (list.length === 0) throw refuse('no extension');
  if (list.length > 1) throw refuse('more than one extension accepted, only permessage-deflate was offered');
  const ext = list[0] as (typeof list)[number];
  if (ext.name !== EXTENSION_NAME) throw refuse(`extension "${ext.name}" was not offered`);
  const r = readParams(ext.params);
  if (typeof r === 'string') throw refuse(r);
  if (r.clientMaxWindowBits === true) throw refuse('parameter "client_max_window_bits" must have a value in a response');
  if (options.serverNoContextTakeover === true && !r.serverNoContextTakeover) {
    throw refuse('server_no_context_takeover was requested but not accepted');
  }
  const serverOpt = options.serverMaxWindowBits;
  if (serverOpt !== undefined) {
    if (r.serverMaxWindowBits === undefined) throw refuse('server_max_window_bits was requested but not accepted');
    if (r.serverMaxWindowBits > serverOpt) {
      throw refuse(`server_max_window_bits=${r.serverMaxWindowBits} exceeds the requested ${serverOpt}`);
    }
  }
  const clientOpt = options.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  return {
    serverNoContextTakeover: r.serverNoContextTakeover,
    clientNoContextTakeover: r.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: r.serverMaxWindowBits ?? MAX_WINDOW_BITS,
    clientMaxWindowBits: r.clientMaxWindowBits === undefined ? clientOpt : Math.min(r.clientMaxWindowBits, clientOpt),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Data path

/** Callback of a zlib job. May be called synchronously or asynchronously. */
export type DeflateCallback = (err: WebSocketError | Error | null, result?: Buffer) => void;

const DEFLATE = 0;
const INFLATE = 1;

interface Job {
  kind: typeof DEFLATE | typeof INFLATE;
  data: Buffer;
  fin: boolean;
  maxSize: number;
  callback: DeflateCallback;
  /** Inflate: fed the output as zlib produces it (text messages); a rejection fails the job with 1007. */
  utf8: Utf8Validator | null;
}

/**
 * zlib's deflate never emits a distance above `w_size - MIN_LOOKAHEAD` (MAX_DIST in deflate.c, 262 bytes of
 * look-ahead): with windowBits 9 that is 512 - 262 = 250 < 256. zlib refuses windowBits 8 for raw deflate
 * (Node silently turns it into 9), and 9 is what we ask for explicitly: the stream it produces only ever
 * refers back 250 bytes, so a peer inflating with a 256-byte window (the agreed 8) decodes it. Inflating
 * accepts 8 as is.
 */
function deflateWindowBits(agreed: number): number {
  return agreed === 8 ? 9 : agreed;
}

/**
 * Window bits for a one-shot compression of `length` bytes: the smallest window that still reaches back over the
 * whole input (so no match is lost and the output is as small as with the agreed window), never above the
 * agreed one. A smaller window is always valid for the peer, and it makes zlib's per-call set-up (allocating
 * and clearing its window-sized tables) cheaper for small messages.
 */
function oneShotWindowBits(length: number, agreed: number): number {
  let bits = 9;
  while (bits < agreed && (1 << bits) - MIN_LOOKAHEAD < length) bits++;
  return bits;
}

/**
 * One whole message compressed with a fresh context (no context takeover): the payload to send, the trailing
 * 00 00 FF FF already stripped. Synchronous, on the event loop. Throws an Error when zlib fails.
 */
function deflateOneShot(data: Buffer, windowBits: number, level: number, memLevel: number): Buffer {
  if (data.length === 0) return EMPTY_BLOCK;
  let out: Buffer;
  try {
    out = zlib.deflateRawSync(data, {
      level,
      memLevel,
      windowBits: oneShotWindowBits(data.length, windowBits),
      // The output ends with the 00 00 FF FF of the sync flush and has no BFINAL block, as the async path.
      finishFlush: Z_SYNC_FLUSH,
      // Room for incompressible input plus block headers and the flush marker: one output buffer, and a
      // small one (pooled below 4 KiB) rather than zlib's default 16 KiB.
      chunkSize: data.length + 64,
    });
  } catch (err) {
    const cause = toError(err);
    throw new Error(`permessage-deflate: compression failed: ${cause.message}`, { cause });
  }
  if (!endsWithTail(out)) throw new Error('permessage-deflate: zlib output does not end with a sync-flush marker');
  return out.length === 4 ? EMPTY_BLOCK : out.subarray(0, out.length - 4);
}

/** An Error to report for something thrown, which may be an Error of another realm. */
function toError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    return e as Error;
  }
  return new Error(String(e));
}

function endsWithTail(b: Buffer): boolean {
  const n = b.length;
  return n >= 4 && b[n - 4] === 0x00 && b[n - 3] === 0x00 && b[n - 2] === 0xff && b[n - 1] === 0xff;
}

function tooBigError(maxSize: number): WebSocketError {
  return new WebSocketError(CloseCode.MessageTooBig, `Compressed message inflates to more than the ${maxSize} bytes allowed`);
}

function invalidUtf8Error(): WebSocketError {
  return new WebSocketError(CloseCode.InvalidPayload, 'Text message is not valid UTF-8');
}

function invalidDataError(cause: Error): WebSocketError {
  return new WebSocketError(CloseCode.InvalidPayload, `Invalid permessage-deflate data: ${cause.message}`, { cause });
}

function concat(chunks: Buffer[], total: number): Buffer {
  if (chunks.length === 1) return chunks[0] as Buffer;
  if (chunks.length === 0) return EMPTY;
  return Buffer.concat(chunks, total);
}

function closedError(): Error {
  return new Error('permessage-deflate: the connection closed before this compression job ran');
}

/**
 * One connection's compressor and decompressor.
 *
 * Design:
 * - One persistent raw deflate and one raw inflate stream per connection, created on first use and kept across
 *   messages (the sliding window is the point of context takeover; re-creating zlib state per message would
 *   cost more than the compression). Both are created with Z_SYNC_FLUSH as their default flush, so each
 *   fragment costs exactly one write, i.e. one thread-pool round trip (ws pays two or three: write, flush, tail).
 * - Streamed zlib work is asynchronous, on the thread pool, under the process-wide {@link zlibLimiter}. Node
 *   offers no synchronous call on a persistent stream (`_processChunk` without a callback closes the handle), so
 *   whenever a context must survive the message — context takeover, or a fragmented message — this is the path.
 * - Synchronous fast path. For a small message (the thread pool hand-off costs more than compressing it:
 *   on one core a 1 KiB JSON deflate+inflate is ~50 µs through the pool, ~25 µs inline) the two trips to the
 *   pool are not worth it. So when the side's context is not kept across messages (compress: our
 *   no_context_takeover; decompress: the peer's), a whole message (fin, no fragment of it pending) of at most
 *   {@link SYNC_INPUT_LIMIT} bytes of input is done with one-shot `deflateRawSync`/`inflateRawSync` and its
 *   callback runs before compress()/decompress() returns. A one-shot context is exactly what no context
 *   takeover means, so nothing is lost; it is built per call, which is why the deflate window is shrunk to
 *   the message (set-up cost scales with it) and why context takeover cannot use this path. Conditions:
 *   - Order: only when no job of this instance is queued or running, so a message never overtakes one
 *     before it (in either direction); the first async job puts the instance back on the queue until idle.
 *   - Bounded without the limiter: sync work is not a limiter job (it never waits and holds nothing after it
 *     returns); what bounds it is the input limit and, for inflate, `maxOutputLength` = min(maxSize + 1,
 *     {@link SYNC_INFLATE_CAP}). A message that inflates past the cap but perhaps not past maxSize is redone
 *     on the async path (the inflater has no state to lose), so a highly compressible message costs at most
 *     the cap twice, and a bomb at most the cap on the event loop.
 *   - Same results: the same flush mode gives the same output and the same errors as the stream for every
 *     input — truncated data is not an error, data after a BFINAL block is ignored, 1009 over maxSize, 1007
 *     on corrupt data, and after an error the instance only fails (tested against the async path).
 *   The trade-off: this work runs on the event loop instead of in parallel with it, so on a many-core box a
 *   process that compresses heavily gives up some pool parallelism; the input limit keeps each call short.
 * - Jobs of one instance, compress and decompress alike, run one at a time in call order; the next is queued in
 *   the limiter only when the previous completed, so a busy connection cannot monopolise the pool and its
 *   callbacks come back in call order.
 * - Decompression counts inflated bytes per message as zlib produces them (16 KiB at a time) and abandons the
 *   stream the moment a message exceeds `maxSize`, so a bomb never costs more than `maxSize` + 16 KiB.
 * - Error codes: too big → 1009 (RFC 6455 §7.4.1). Corrupt deflate data → 1007: the frame is well-formed and
 *   RSV1 was legitimately negotiated, but the payload is not consistent with the message's encoding, the very
 *   definition of 1007 (the same family as invalid UTF-8; ws uses 1007 too). RFC 7692 §8 only says
 *   to _Fail the WebSocket Connection_.
 * - Every zlib stream keeps an 'error' listener for its whole life (it is never removed), so a late zlib error
 *   after close or after an abort can never become an uncaught exception.
 *
 * The caller must not modify a buffer passed to compress()/decompress() until its callback has run.
 */
export class PerMessageDeflate {
  private readonly options: PerMessageDeflateOptions;
  private readonly isServer: boolean;
  /** Window bits we compress with / the peer compresses with. */
  private readonly ownBits: number;
  private readonly peerBits: number;
  private readonly ownNoContextTakeover: boolean;
  private readonly peerNoContextTakeover: boolean;
  private readonly limit: number;

  private deflateStream: zlib.DeflateRaw | null = null;
  private inflateStream: zlib.InflateRaw | null = null;
  /** Dictionary for the next inflate stream, after a peer ended its deflate stream (BFINAL) with context takeover. */
  private inflateDictionary: Buffer | null = null;

  private readonly queue: Array<Job | undefined> = [];
  private queueHead = 0;
  /** The job queued in (or running under) the limiter, if any. */
  private current: Job | null = null;
  private release: (() => void) | null = null;
  /** The stream whose events belong to the current job. */
  private active: zlib.DeflateRaw | zlib.InflateRaw | null = null;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Inflate: bytes produced so far by the message being decompressed. */
  private messageBytes = 0;
  /** Inflate: input size and engine position when the write started, to notice a BFINAL block. */
  private inputLength = 0;
  private inputStart = 0;
  /** Inflate: the peer ended its deflate stream inside this message; its remaining fragments carry nothing. */
  private skipToFin = false;
  /** Inflate: once decompression failed, the inflate context is gone and every later call fails the same way. */
  private inflateError: WebSocketError | null = null;
  private closed = false;
  /** compress()/decompress() was last called with fin=false: the next call continues a message. */
  private deflateOpen = false;
  private inflateOpen = false;
  private sharedKeyCache: string | undefined = undefined;

  private readonly startJob: (done: () => void) => void;
  private readonly onWritten: (err?: Error | null) => void;

  constructor(params: DeflateParams, options: PerMessageDeflateOptions, isServer: boolean) {
    validatePerMessageDeflateOptions(options);
    validateParams(params);
    this.options = options;
    this.isServer = isServer;
    this.ownBits = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.peerBits = isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
    this.ownNoContextTakeover = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.peerNoContextTakeover = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.limit = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    this.startJob = (done) => this.start(done);
    this.onWritten = (err) => this.written(err ?? null);
  }

  /** Messages below this many bytes are not worth compressing. */
  get threshold(): number {
    return this.options.threshold ?? DEFAULT_THRESHOLD;
  }

  /** Whether this instance plays the server role (compresses with the server's window). */
  get server(): boolean {
    return this.isServer;
  }

  /**
   * What fixes the bytes {@link compressShared} produces (window, level, memLevel), or null when this side keeps
   * its context across messages: then each message depends on the ones before it and cannot be shared.
   * Connections with equal keys can be sent one and the same compressed frame (the hub's encode-once).
   */
  get sharedKey(): string | null {
    if (!this.ownNoContextTakeover) return null;
    return (this.sharedKeyCache ??= `${deflateWindowBits(this.ownBits)}/${this.options.level ?? DEFAULT_LEVEL}/${
      this.options.memLevel ?? DEFAULT_MEM_LEVEL
    }`);
  }

  /**
   * Compresses a whole message synchronously as this side would without context takeover, without touching this
   * instance's streams or queue (it works after close() too). The result is valid for every connection with the
   * same {@link sharedKey}. Throws when zlib fails. Only meaningful when `sharedKey` is not null.
   */
  compressShared(data: Buffer): Buffer {
    return deflateOneShot(
      data,
      deflateWindowBits(this.ownBits),
      this.options.level ?? DEFAULT_LEVEL,
      this.options.memLevel ?? DEFAULT_MEM_LEVEL,
    );
  }

  /**
   * Compresses one fragment of a message (`fin` ends the message and strips the trailing 00 00 FF FF).
   * Every fragment is sync-flushed, so its output can be sent at once (a streamed message is flushed per write);
   * only the final fragment loses the 00 00 FF FF tail, as RFC 7692 §7.2.1 applies it to the end of the message.
   * The callback may run before this returns (the fast path, see the class comment).
   */
  compress(data: Buffer, fin: boolean, callback: DeflateCallback): void {
    const whole = fin && !this.deflateOpen;
    this.deflateOpen = !fin;
    if (whole && this.ownNoContextTakeover && data.length <= SYNC_INPUT_LIMIT && this.idle()) {
      this.deflateSync(data, callback);
      return;
    }
    this.enqueue({ kind: DEFLATE, data, fin, maxSize: Infinity, callback, utf8: null });
  }

  /**
   * Inflates one fragment of a compressed message; fails with WebSocketError(1009) once a message inflates past
   * maxSize (counted over all fragments of the message), with WebSocketError(1007) on corrupt data. After an
   * error the instance only fails; close() it. The callback may run before this returns (the fast path).
   * `utf8` (text messages): fed the inflated bytes as zlib produces them; once it rejects them the job fails
   * with WebSocketError(1007) and inflates no further. The caller checks `utf8.end()` at the message's end.
   */
  decompress(data: Buffer, fin: boolean, maxSize: number, callback: DeflateCallback, utf8: Utf8Validator | null = null): void {
    const whole = fin && !this.inflateOpen;
    this.inflateOpen = !fin;
    if (
      whole &&
      this.peerNoContextTakeover &&
      data.length <= SYNC_INPUT_LIMIT &&
      this.inflateError === null &&
      this.idle() &&
      this.inflateSync(data, maxSize, callback, utf8)
    ) {
      return;
    }
    this.enqueue({ kind: INFLATE, data, fin, maxSize, callback, utf8 });
  }

  /**
   * Frees the zlib streams. Pending callbacks (the running job and the queued ones) are called with an error on
   * the next tick, in call order, so none is left pending forever and none runs re-entrantly inside close().
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const pending: Job[] = [];
    if (this.current !== null) pending.push(this.current);
    for (let i = this.queueHead; i < this.queue.length; i++) pending.push(this.queue[i] as Job);
    this.queue.length = 0;
    this.queueHead = 0;
    this.current = null;
    this.active = null;
    this.chunks = [];
    this.inflateDictionary = null;
    this.discardDeflate();
    this.discardInflate();
    const release = this.release;
    this.release = null;
    if (release !== null) release();
    if (pending.length > 0) {
      process.nextTick(() => {
        for (const job of pending) job.callback(closedError());
      });
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Synchronous fast path (whole small messages without context takeover, see the class comment)

  /** No job of this instance is queued or running: a synchronous one cannot overtake anything. */
  private idle(): boolean {
    return this.current === null && this.queueHead === this.queue.length && !this.closed;
  }

  private deflateSync(data: Buffer, callback: DeflateCallback): void {
    let out: Buffer;
    try {
      out = this.compressShared(data);
    } catch (err) {
      callback(toError(err));
      return;
    }
    callback(null, out);
  }

  /**
   * Inflates a whole message at once, or returns false (having produced nothing) when it inflates to more than
   * {@link SYNC_INFLATE_CAP} yet possibly not more than maxSize: the async path then redoes it in bounded steps.
   */
  private inflateSync(data: Buffer, maxSize: number, callback: DeflateCallback, utf8: Utf8Validator | null): boolean {
    const input = Buffer.allocUnsafe(data.length + TAIL.length);
    data.copy(input, 0);
    TAIL.copy(input, data.length);
    // One byte over maxSize is enough to know the message is too big.
    const cap = maxSize < SYNC_INFLATE_CAP ? Math.max(1, Math.floor(maxSize) + 1) : SYNC_INFLATE_CAP;
    let out: Buffer;
    let err: WebSocketError | null = null;
    try {
      // Same semantics as the stream: Z_SYNC_FLUSH never reports a truncated stream as an error (the output so
      // far is the result), and input after a BFINAL block is ignored.
      out = zlib.inflateRawSync(input, { windowBits: this.peerBits, finishFlush: Z_SYNC_FLUSH, maxOutputLength: cap });
    } catch (e) {
      out = EMPTY;
      // Not `instanceof Error`: zlib's errors may come from another realm (vm contexts, test runners).
      const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        if (cap === SYNC_INFLATE_CAP && maxSize > SYNC_INFLATE_CAP) return false;
        err = tooBigError(maxSize);
      } else {
        err = invalidDataError(toError(e));
      }
    }
    if (err === null && out.length > 0 && out.length > maxSize) err = tooBigError(maxSize);
    if (err === null && utf8 !== null && !utf8.write(out)) err = invalidUtf8Error();
    if (err !== null) {
      // As on the async path: the instance only fails from now on.
      this.inflateError = err;
      this.discardInflate();
      callback(err);
      return true;
    }
    callback(null, out);
    return true;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Asynchronous path

  private enqueue(job: Job): void {
    if (this.closed) {
      process.nextTick(job.callback, closedError());
      return;
    }
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    if (this.current !== null || this.closed || this.queueHead >= this.queue.length) return;
    this.current = this.queue[this.queueHead] as Job;
    this.queue[this.queueHead++] = undefined;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    zlibLimiter.run(this.startJob, this.limit);
  }

  private start(done: () => void): void {
    const job = this.current;
    if (job === null || this.closed) {
      done(); // closed while waiting in the limiter: its callback was already answered by close()
      return;
    }
    this.release = done;
    try {
      if (job.kind === DEFLATE) this.startDeflate(job);
      else this.startInflate(job);
    } catch (err) {
      // zlib refused to initialise (out of memory) or to take the write: fail this job, not the process.
      this.active = null;
      if (job.kind === DEFLATE) this.discardDeflate();
      else this.discardInflate();
      this.finish(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Ends the current job: frees its limiter slot, answers it, then starts the next one of this instance. */
  private finish(err: Error | null, result?: Buffer): void {
    const job = this.current;
    if (job === null) return;
    this.current = null;
    this.active = null;
    this.chunks = [];
    this.chunkBytes = 0;
    const release = this.release;
    this.release = null;
    if (release !== null) release();
    try {
      if (err !== null) job.callback(err);
      else job.callback(null, result);
    } finally {
      this.pump();
    }
  }

  private attach<T extends zlib.DeflateRaw | zlib.InflateRaw>(stream: T): T {
    // Output only counts for the job the stream is working for (a stale stream's leftovers are dropped).
    stream.on('data', (chunk: Buffer) => {
      if (this.active === stream) this.data(chunk);
    });
    // Never removed: errors after an abort or close land here and are ignored instead of crashing the process.
    stream.on('error', (err: Error) => {
      if (this.active === stream) this.failActive(err);
    });
    return stream;
  }

  private startDeflate(job: Job): void {
    let stream = this.deflateStream;
    if (stream === null) {
      const level = this.options.level ?? DEFAULT_LEVEL;
      stream = this.attach(
        zlib.createDeflateRaw({
          flush: zlib.constants.Z_SYNC_FLUSH,
          windowBits: deflateWindowBits(this.ownBits),
          level,
          memLevel: this.options.memLevel ?? DEFAULT_MEM_LEVEL,
        }),
      );
      this.deflateStream = stream;
    }
    this.active = stream;
    stream.write(job.data, this.onWritten);
  }

  private startInflate(job: Job): void {
    if (this.inflateError !== null) {
      this.finish(this.inflateError);
      return;
    }
    if (this.skipToFin) {
      // The peer's deflate stream already ended (BFINAL) in this message: nothing more to inflate.
      if (job.fin) {
        this.skipToFin = false;
        this.messageBytes = 0;
      }
      this.finish(null, EMPTY);
      return;
    }
    let stream = this.inflateStream;
    if (stream === null) {
      const opts: zlib.ZlibOptions = { flush: zlib.constants.Z_SYNC_FLUSH, windowBits: this.peerBits };
      if (this.inflateDictionary !== null) opts.dictionary = this.inflateDictionary;
      this.inflateDictionary = null;
      stream = this.attach(zlib.createInflateRaw(opts));
      this.inflateStream = stream;
    }
    this.active = stream;
    this.inputStart = stream.bytesWritten;
    const data = job.data;
    if (!job.fin) {
      this.inputLength = data.length;
      stream.write(data, this.onWritten);
    } else if (data.length === 0) {
      this.inputLength = TAIL.length;
      stream.write(TAIL, this.onWritten);
    } else if (data.length <= APPEND_COPY_LIMIT) {
      const input = Buffer.allocUnsafe(data.length + TAIL.length);
      data.copy(input, 0);
      TAIL.copy(input, data.length);
      this.inputLength = input.length;
      stream.write(input, this.onWritten);
    } else {
      // Large final fragment: two writes (two pool trips) rather than copying megabytes.
      this.inputLength = data.length + TAIL.length;
      stream.write(data);
      stream.write(TAIL, this.onWritten);
    }
  }

  private data(chunk: Buffer): void {
    const job = this.current;
    if (job === null) return;
    if (job.kind === INFLATE) {
      this.messageBytes += chunk.length;
      if (this.messageBytes > job.maxSize) {
        // Stop zlib right here: destroying the stream inside its 'data' event ends the current write after
        // this chunk, so the rest of the bomb is never inflated.
        this.abortInflate(tooBigError(job.maxSize));
        return;
      }
      if (job.utf8 !== null && !job.utf8.write(chunk)) {
        // Likewise: invalid text fails at the chunk that shows it, not after the whole message is inflated.
        this.abortInflate(invalidUtf8Error());
        return;
      }
    }
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
  }

  private written(err: Error | null): void {
    const job = this.current;
    const stream = this.active;
    if (job === null || stream === null) return; // stale: the job was aborted or the instance closed
    if (err !== null) {
      this.failActive(err);
      return;
    }
    // In flowing mode the output was handed to 'data' before the write completed; drain anything the stream
    // still buffers (read() re-emits it through 'data') so no output can trail behind its job.
    while (stream.readableLength > 0 && stream.read() !== null);
    if (this.current !== job) return; // the drained data aborted the job
    if (job.kind === DEFLATE) this.deflateDone(job);
    else this.inflateDone(job, stream as zlib.InflateRaw);
  }

  private deflateDone(job: Job): void {
    let out = concat(this.chunks, this.chunkBytes);
    if (job.fin) {
      const n = out.length;
      if (n === 0) {
        // Nothing new since the last sync flush (empty message): zlib emits nothing, but the payload must
        // still be a deflate stream once 00 00 FF FF is appended, hence a lone empty-block header.
        out = EMPTY_BLOCK;
      } else if (endsWithTail(out)) {
        out = n === 4 ? EMPTY_BLOCK : out.subarray(0, n - 4);
      } else {
        this.finish(new Error('permessage-deflate: zlib output does not end with a sync-flush marker'));
        return;
      }
      if (this.ownNoContextTakeover && this.deflateStream !== null) this.deflateStream.reset();
    }
    this.finish(null, out);
  }

  private inflateDone(job: Job, stream: zlib.InflateRaw): void {
    const out = concat(this.chunks, this.chunkBytes);
    if (stream.bytesWritten - this.inputStart < this.inputLength) {
      // zlib stopped consuming input: the peer ended its deflate stream with a BFINAL block (allowed by
      // RFC 7692 §7.2.3.4). Whatever follows in this message is ignored; the next message starts a new stream,
      // primed with the last window of output when the peer keeps its context. Only this fragment's output is
      // at hand: a BFINAL message whose last fragment produced less than a window, followed by a message that
      // refers further back, fails with 1007 — a combination no known implementation sends.
      if (!this.peerNoContextTakeover && out.length > 0) {
        const window = 1 << this.peerBits;
        this.inflateDictionary = Buffer.from(out.length > window ? out.subarray(out.length - window) : out);
      }
      this.discardInflate();
      if (!job.fin) this.skipToFin = true;
    }
    if (job.fin) {
      this.messageBytes = 0;
      if (this.peerNoContextTakeover && this.inflateStream !== null) this.inflateStream.reset();
    }
    this.finish(null, out);
  }

  /** Fails the current inflate job with `err`; the instance only fails from now on. */
  private abortInflate(err: WebSocketError): void {
    this.inflateError = err;
    this.discardInflate();
    this.finish(err);
  }

  /** A zlib error (or failed write) on the active stream ends the current job. */
  private failActive(cause: Error): void {
    const job = this.current;
    if (job === null) return;
    if (job.kind === INFLATE) {
      const err = invalidDataError(cause);
      this.inflateError = err;
      this.discardInflate();
      this.finish(err);
    } else {
      this.discardDeflate();
      this.finish(new Error(`permessage-deflate: compression failed: ${cause.message}`, { cause }));
    }
  }

  private discardDeflate(): void {
    const s = this.deflateStream;
    this.deflateStream = null;
    if (s === null) return;
    if (this.active === s) this.active = null;
    s.destroy();
  }

  private discardInflate(): void {
    const s = this.inflateStream;
    this.inflateStream = null;
    if (s === null) return;
    if (this.active === s) this.active = null;
    s.destroy();
  }
}
