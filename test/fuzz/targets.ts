// Fuzz targets shared by the jest suite (test/hardening/fuzz.test.ts, few runs) and `npm run fuzz`
// (scripts/fuzz.ts, many runs). Each returns a fast-check property; a counterexample is a finding.
import * as fc from 'fast-check';
import { Duplex } from 'stream';
import type * as http from 'http';
import { FrameParser } from '../../src/codec/frame-parser';
import { WebSocketError } from '../../src/errors';
import { Receiver, ReceiverSink } from '../../src/connection/receiver';
import { Upgrader } from '../../src/handshake/server';
import { HandshakeError } from '../../src/errors';
import { parseExtensionHeader } from '../../src/extensions/extension-header';
import { negotiateServer } from '../../src/extensions/permessage-deflate';

const CLOSE_CODES = new Set([1002, 1007, 1008, 1009]);

/** A frame as bytes: any header bits, any of the three length encodings, masked or not. */
export const arbFrameBytes = fc
  .record({
    fin: fc.boolean(),
    rsv: fc.integer({ min: 0, max: 7 }),
    opcode: fc.integer({ min: 0, max: 15 }),
    masked: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 300 }),
    encoding: fc.constantFrom(7, 16, 64),
  })
  .map(({ fin, rsv, opcode, masked, payload, encoding }) => {
    const n = payload.length;
    const b0 = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
    let head: Buffer;
    if (encoding === 7 && n < 126) head = Buffer.from([b0, n]);
    else if (encoding !== 64 && n < 0x10000) head = Buffer.from([b0, 126, n >> 8, n & 0xff]);
    else {
      head = Buffer.alloc(10);
      head[0] = b0;
      head[1] = 127;
      head.writeUInt32BE(n, 6);
    }
    if (masked) head[1] = (head[1] as number) | 0x80;
    const key = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
    const body = Buffer.from(payload);
    if (masked) for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number);
    return Buffer.concat([head, key, body]);
  });

/** A byte stream mixing well-formed frames and garbage, and the cut points to deliver it at. */
export const arbStream = fc
  .tuple(
    fc.array(fc.oneof({ weight: 4, arbitrary: arbFrameBytes }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)) }), { maxLength: 30 }),
    fc.array(fc.nat(), { maxLength: 40 }),
  )
  .map(([parts, cuts]) => {
    const bytes = Buffer.concat(parts);
    const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let last = 0;
    for (const p of points) {
      chunks.push(bytes.subarray(last, p));
      last = p;
    }
    chunks.push(bytes.subarray(last));
    return chunks.filter((c) => c.length > 0).map((c) => Buffer.from(c));
  });

/** FrameParser: any bytes in any split give frames or one WebSocketError with a close code; frames obey maxPayload. */
export function frameParserProperty(maxPayload = 200): fc.IPropertyWithHooks<[Buffer[], boolean | undefined]> {
  return fc.property(arbStream, fc.constantFrom(true, false, undefined), (chunks, requireMask) => {
    const parser = new FrameParser({ requireMask, maxPayload, allowRsv1: true }, (f) => {
      if (f.payload.length > maxPayload) throw new Error('frame over maxPayload delivered');
      if (f.opcode >= 8 && (f.payload.length > 125 || !f.fin)) throw new Error('bad control frame delivered');
    });
    for (const c of chunks) {
      try {
        parser.push(c);
      } catch (err) {
        if (!(err instanceof WebSocketError) || !CLOSE_CODES.has(err.closeCode)) throw err;
        return;
      }
    }
  });
}

/** Parser + Receiver with a fake sink: messages within maxPayload, valid UTF-8 text, errors only as close codes. */
export function receiverProperty(maxPayload = 500): fc.IPropertyWithHooks<[Buffer[]]> {
  return fc.property(arbStream, (chunks) => {
    let failed: WebSocketError | null = null;
    let closedFrame = false;
    // The sink interface is internal: both spellings of the error hook are provided.
    const onError = (err: WebSocketError): void => {
      if (!CLOSE_CODES.has(err.closeCode)) throw new Error(`unexpected close code ${err.closeCode}`);
      failed = err;
    };
    const onMessage = (type: string, data: Buffer): boolean => {
      if (failed || closedFrame) throw new Error('message after failure or Close');
      if (data.length > maxPayload) throw new Error('message over maxPayload');
      if (type === 'text') new TextDecoder('utf-8', { fatal: true }).decode(data);
      return true;
    };
    const onClose = (): void => {
      closedFrame = true;
    };
    const sink = {
      onMessage, handleMessage: onMessage,
      takeStreamTarget: () => null,
      onPing: () => true, handlePing: () => true,
      onPong: () => undefined, handlePong: () => undefined,
      onClose, handleClose: onClose,
      onError, handleProtocolError: onError,
      resume: () => undefined, resumeReading: () => undefined,
    } as unknown as ReceiverSink;
    const receiver = new Receiver({ maxPayload, deflate: null }, sink);
    const parser = new FrameParser({ requireMask: true, maxPayload }, receiver);
    for (const c of chunks) {
      if (failed || closedFrame) return;
      try {
        if (!parser.push(c)) return; // paused after Close or failure
      } catch (err) {
        if (!(err instanceof WebSocketError) || !CLOSE_CODES.has(err.closeCode)) throw err;
        return;
      }
    }
  });
}

class NullSocket extends Duplex {
  out = '';
  override _read(): void {}
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.out += c.toString('latin1');
    cb();
  }
}

const headerName = fc.constantFrom(
  'Host', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions', 'Origin', '__proto__', 'constructor', 'hasOwnProperty', 'X',
);
const headerValue = fc.oneof(
  fc.constantFrom('websocket', 'Upgrade', 'keep-alive, Upgrade', '13', 'dGhlIHNhbXBsZSBub25jZQ==', 'chat, superchat', 'permessage-deflate; client_max_window_bits', 'http://localhost', 'localhost', '', '__proto__', ' , ,\t'),
  fc.string({ maxLength: 40 }),
);

/** Upgrader: any header set (missing, duplicated, hostile) settles with a 101 or a HandshakeError; never throws, never hangs. */
export function upgraderProperty(): fc.IAsyncPropertyWithHooks<[Array<[string, string]>, string, boolean]> {
  const upgrader = new Upgrader({ compression: true, subprotocols: ['chat'], handshakeTimeout: 1000 });
  return fc.asyncProperty(
    fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
    fc.constantFrom('GET', 'POST'),
    fc.boolean(),
    async (pairs, method, withRaw) => {
      const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      const rawHeaders: string[] = [];
      for (const [k, v] of pairs) {
        const lower = k.toLowerCase();
        const prev = headers[lower];
        headers[lower] = prev === undefined ? v : `${String(prev)}, ${v}`;
        rawHeaders.push(k, v);
      }
      const req = { method, headers, rawHeaders: withRaw ? rawHeaders : undefined, httpVersionMajor: 1, httpVersionMinor: 1, url: '/' } as unknown as http.IncomingMessage;
      const socket = new NullSocket();
      let outcome: unknown;
      try {
        outcome = await upgrader.upgrade(req, socket, Buffer.alloc(0));
      } catch (err) {
        outcome = err;
      }
      socket.destroy();
      if (outcome instanceof HandshakeError) {
        if (![400, 403, 405, 426, 500].includes(outcome.status)) throw new Error(`status ${outcome.status}`);
        if (outcome.status === 500) throw new Error(`500 from request headers alone: ${outcome.message}`);
      } else if (outcome !== null && typeof outcome === 'object' && 'terminate' in outcome) {
        (outcome as { terminate(): void }).terminate();
        if (!socket.out.startsWith('HTTP/1.1 101 ')) throw new Error('resolved without a 101');
      } else {
        throw outcome instanceof Error ? outcome : new Error(String(outcome));
      }
    },
  );
}

/** Extension header parser and negotiation: never throw, results are arrays of plain records. */
export function extensionProperty(): fc.IPropertyWithHooks<[string]> {
  const vocab = fc.constantFrom('permessage-deflate', 'x', ';', ',', '=', '"', '\\', ' ', '\t', '__proto__', 'constructor', 'server_max_window_bits', '10', 'client_max_window_bits', '\u0000', 'é');
  return fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.array(vocab, { maxLength: 40 }).map((a) => a.join(''))), (header) => {
    const parsed = parseExtensionHeader(header);
    if (parsed !== null && !Array.isArray(parsed)) throw new Error('not an array');
    negotiateServer(header, {});
    negotiateServer(header, { serverNoContextTakeover: true, clientMaxWindowBits: 10 });
  });
}
