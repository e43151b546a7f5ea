/**
 * Codec benchmark: frame decode and encode throughput of wsflow against ws (with and without the
 * bufferutil addon) and a Buffer.copy of the same bytes.
 *
 *   npm run bench:codec                 # 5 repetitions (~2–3 min)
 *   npm run bench:codec -- --quick      # 3 short repetitions (~30 s)
 *   node dist/bench/codec.js --help     # all options
 *
 * Layout: this process only coordinates. Four forked workers measure, one request at a time (so they
 * never compete for the 2 cores): "wsflow" (wsflow with no addon, WSFLOW_NO_BUFFERUTIL=1, plus the
 * Buffer.copy and identity-Transform references), "wsflow-bufferutil" (wsflow picking the addon up), "ws"
 * (ws with WS_NO_BUFFER_UTIL=1) and "ws-bufferutil" (ws as it loads by default, picking up bufferutil).
 * Both libraries decide at load time whether to use bufferutil, hence a process per variant.
 *
 * Cells (direction × payload size) are interleaved: in every repetition, each cell measures all its
 * implementations back to back, in an order rotated per repetition. wsflow's ratio to a ws variant is
 * computed per repetition from the two neighbouring measurements, and the median of those is reported.
 */
import * as path from 'path';
import { Transform, Writable } from 'stream';
import { Frame, FrameInput } from '../src/codec/frame';
import { FrameDecoder } from '../src/codec/frame-decoder';
import { FrameEncoder } from '../src/codec/frame-encoder';
import { FrameParser } from '../src/codec/frame-parser';
import { serializeFrame } from '../src/codec/frame-serializer';
import { maskImplementation } from '../src/codec/mask';
import { AsyncJob, Job, measure, measureAsync, warmUp } from './lib/measure';
import { machineInfo, packageVersion, repoRoot } from './lib/machine';
import { writeMarkdownSection } from './lib/markdown';
import { median, pairwiseRatios, relativeSpread } from './lib/stats';
import {
  Column,
  formatCount,
  formatMBps,
  formatRatio,
  formatSize,
  formatSpread,
  renderMarkdownTable,
  renderTextTable,
} from './lib/table';
import { Worker, serveRequests } from './lib/worker';

// ---------------------------------------------------------------------------------------------------
// Parameters

const SIZES = [16, 125, 1024, 64 * 1024, 1024 * 1024];
/** Decode input arrives in chunks of this size, as from a TCP socket. */
const CHUNK_SIZE = 64 * 1024;
/** Bytes of wire data per timed iteration (a decode stream, or the frames of an encode batch). */
const ITERATION_BYTES = 4 * 1024 * 1024;
/** At least this many frames per decode stream (matters for 1 MiB payloads only). */
const MIN_STREAM_FRAMES = 4;
/**
 * At least this many frames per timed encode iteration of an unmasked encoder. Unmasked encoding never
 * touches the payload, so its cost is per frame: four 1 MiB frames take well under a microsecond, about
 * what the two clock reads around them cost, and the cell measured the clock, not the encoder.
 */
const MIN_UNMASKED_BATCH = 16_384;
const MAX_PAYLOAD = 64 * 1024 * 1024;
/** The byte sink of the pipeline rows takes writes up to this many bytes before asking for 'drain', as a socket does. */
const SINK_HIGH_WATER_MARK = 16 * 1024;
const OPCODE_BINARY = 0x2;
/** Untimed run of a job between the full GC before a measurement and the measurement itself. */
const SETTLE_MS = 100;

type WorkerKind = 'wsflow' | 'wsflow-bufferutil' | 'ws' | 'ws-bufferutil';
type Direction = 'decode' | 'encode';
/** What a rate is per: elapsed time, or the worker's CPU time (user + system) over the same work. */
type Clock = 'wall' | 'cpu';

const WORKER_KINDS: readonly WorkerKind[] = ['wsflow', 'wsflow-bufferutil', 'ws', 'ws-bufferutil'];

interface Row {
  direction: Direction;
  worker: WorkerKind;
  impl: string;
  label: string;
  /** For wsflow rows: the keys of the ws rows to compute ratios against, without and with bufferutil. */
  versus?: { ws: string; wsBufferutil: string };
}

function rowKey(row: Pick<Row, 'direction' | 'worker' | 'impl'>): string {
  return `${row.direction}/${row.worker}/${row.impl}`;
}

const DECODE_VERSUS = { ws: 'decode/ws/receiver', wsBufferutil: 'decode/ws-bufferutil/receiver' };
const MASKED_VERSUS = { ws: 'encode/ws/masked', wsBufferutil: 'encode/ws-bufferutil/masked' };
const UNMASKED_VERSUS = { ws: 'encode/ws/unmasked', wsBufferutil: 'encode/ws-bufferutil/unmasked' };
const SINK_MASKED_VERSUS = { ws: 'encode/ws/sink-masked', wsBufferutil: 'encode/ws-bufferutil/sink-masked' };
const SINK_UNMASKED_VERSUS = { ws: 'encode/ws/sink-unmasked', wsBufferutil: 'encode/ws-bufferutil/sink-unmasked' };

// "wsflow" rows run with no addon (WSFLOW_NO_BUFFERUTIL=1: the zero-dependency package as installed);
// "+ bufferutil" rows with the addon picked up, where masking is involved.
const ROWS: readonly Row[] = [
  { direction: 'decode', worker: 'wsflow', impl: 'copy', label: 'Buffer.copy (ceiling)' },
  { direction: 'decode', worker: 'ws', impl: 'receiver', label: 'ws Receiver, no addon' },
  { direction: 'decode', worker: 'ws-bufferutil', impl: 'receiver', label: 'ws Receiver + bufferutil' },
  { direction: 'decode', worker: 'wsflow', impl: 'parser', label: 'wsflow FrameParser', versus: DECODE_VERSUS },
  { direction: 'decode', worker: 'wsflow-bufferutil', impl: 'parser', label: 'wsflow FrameParser + bufferutil', versus: DECODE_VERSUS },
  { direction: 'decode', worker: 'wsflow', impl: 'decoder', label: 'wsflow FrameDecoder', versus: DECODE_VERSUS },
  { direction: 'encode', worker: 'wsflow', impl: 'copy', label: 'Buffer.copy (ceiling)' },
  { direction: 'encode', worker: 'wsflow', impl: 'identity', label: 'identity objectMode Transform (stream floor)' },
  { direction: 'encode', worker: 'ws', impl: 'masked', label: 'ws Sender.frame masked, no addon' },
  { direction: 'encode', worker: 'ws-bufferutil', impl: 'masked', label: 'ws Sender.frame masked + bufferutil' },
  { direction: 'encode', worker: 'wsflow', impl: 'masked', label: 'wsflow serializeFrame masked', versus: MASKED_VERSUS },
  {
    direction: 'encode',
    worker: 'wsflow-bufferutil',
    impl: 'masked',
    label: 'wsflow serializeFrame masked + bufferutil',
    versus: MASKED_VERSUS,
  },
  { direction: 'encode', worker: 'wsflow', impl: 'stream-masked', label: 'wsflow FrameEncoder masked (stream)', versus: MASKED_VERSUS },
  { direction: 'encode', worker: 'ws', impl: 'unmasked', label: 'ws Sender.frame unmasked, no addon' },
  { direction: 'encode', worker: 'ws-bufferutil', impl: 'unmasked', label: 'ws Sender.frame unmasked + bufferutil' },
  { direction: 'encode', worker: 'wsflow', impl: 'unmasked', label: 'wsflow serializeFrame unmasked', versus: UNMASKED_VERSUS },
  {
    direction: 'encode',
    worker: 'wsflow',
    impl: 'stream-unmasked',
    label: 'wsflow FrameEncoder unmasked (stream)',
    versus: UNMASKED_VERSUS,
  },
  // Into the same byte sink: ws as WebSocket#send hands Sender.frame's list to its socket, FrameEncoder piped.
  { direction: 'encode', worker: 'ws', impl: 'sink-masked', label: 'ws Sender.frame masked → sink, no addon' },
  { direction: 'encode', worker: 'ws-bufferutil', impl: 'sink-masked', label: 'ws Sender.frame masked → sink + bufferutil' },
  { direction: 'encode', worker: 'wsflow', impl: 'pipe-masked', label: 'wsflow FrameEncoder masked → sink', versus: SINK_MASKED_VERSUS },
  {
    direction: 'encode',
    worker: 'wsflow-bufferutil',
    impl: 'pipe-masked',
    label: 'wsflow FrameEncoder masked → sink + bufferutil',
    versus: SINK_MASKED_VERSUS,
  },
  { direction: 'encode', worker: 'ws', impl: 'sink-unmasked', label: 'ws Sender.frame unmasked → sink, no addon' },
  { direction: 'encode', worker: 'ws-bufferutil', impl: 'sink-unmasked', label: 'ws Sender.frame unmasked → sink + bufferutil' },
  { direction: 'encode', worker: 'wsflow', impl: 'pipe-unmasked', label: 'wsflow FrameEncoder unmasked → sink', versus: SINK_UNMASKED_VERSUS },
];

// ---------------------------------------------------------------------------------------------------
// Inputs: built identically in every worker from a seeded PRNG, and checked to be identical.

/** mulberry32: a small seeded PRNG, so every worker builds byte-identical inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function fillRandom(target: Buffer, next: () => number): void {
  let i = 0;
  for (; i + 4 <= target.length; i += 4) target.writeUInt32LE(next(), i);
  for (; i < target.length; i++) target[i] = next() & 0xff;
}

/** FNV-1a (32-bit) over `data`, continuing from `hash`. */
function fnv1a(data: Uint8Array, hash = 0x811c9dc5): number {
  let h = hash;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 0x01000193) >>> 0;
  return h;
}

function headerLength(size: number, masked: boolean): number {
  return (size < 126 ? 2 : size < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

function wireLength(size: number, masked: boolean): number {
  return headerLength(size, masked) + size;
}

/** A reference frame writer, independent of both libraries: FIN, binary, shortest length encoding. */
function writeReferenceFrame(target: Buffer, offset: number, payload: Buffer, maskKey: Buffer | null): number {
  const size = payload.length;
  let p = offset;
  target[p++] = 0x80 | OPCODE_BINARY;
  const maskBit = maskKey ? 0x80 : 0;
  if (size < 126) {
    target[p++] = maskBit | size;
  } else if (size < 0x10000) {
    target[p++] = maskBit | 126;
    target.writeUInt16BE(size, p);
    p += 2;
  } else {
    target[p++] = maskBit | 127;
    target.writeUInt32BE(Math.floor(size / 2 ** 32), p);
    target.writeUInt32BE(size >>> 0, p + 4);
    p += 8;
  }
  if (maskKey) {
    maskKey.copy(target, p);
    p += 4;
    for (let i = 0; i < size; i++) target[p + i] = payload[i] ^ maskKey[i & 3];
  } else {
    payload.copy(target, p);
  }
  return p + size - offset;
}

/** A reference frame reader for verification: returns the unmasked payloads of a byte stream. */
function readReferenceFrames(stream: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  let p = 0;
  while (p < stream.length) {
    const b1 = stream[p + 1];
    let size = b1 & 0x7f;
    p += 2;
    if (size === 126) {
      size = stream.readUInt16BE(p);
      p += 2;
    } else if (size === 127) {
      size = stream.readUInt32BE(p) * 2 ** 32 + stream.readUInt32BE(p + 4);
      p += 8;
    }
    let key: Buffer | null = null;
    if (b1 & 0x80) {
      key = stream.subarray(p, p + 4);
      p += 4;
    }
    const payload = Buffer.from(stream.subarray(p, p + size));
    if (key) for (let i = 0; i < size; i++) payload[i] ^= key[i & 3];
    payloads.push(payload);
    p += size;
  }
  return payloads;
}

interface DecodeInput {
  /** The pristine masked byte stream (client → server), never handed to a decoder. */
  pristine: Buffer;
  frames: number;
  /** FNV-1a of all payloads, unmasked, in order. */
  payloadHash: number;
  /** FNV-1a of the wire bytes: equal in all workers means everyone decodes the same bytes. */
  streamHash: number;
}

interface EncodeInput {
  payload: Buffer;
  /** Frames per timed iteration for encoders that read every payload byte (masking, copying). */
  batch: number;
  /** Frames per timed iteration for unmasked encoders, whose cost does not grow with the payload. */
  unmaskedBatch: number;
}

function buildDecodeInput(size: number): DecodeInput {
  const next = prng(0xc0dec000 + size);
  const wire = wireLength(size, true);
  const frames = Math.max(MIN_STREAM_FRAMES, Math.ceil(ITERATION_BYTES / wire));
  const pristine = Buffer.allocUnsafe(frames * wire);
  const payload = Buffer.allocUnsafe(size);
  const maskKey = Buffer.allocUnsafe(4);
  let offset = 0;
  let payloadHash = 0x811c9dc5;
  for (let f = 0; f < frames; f++) {
    fillRandom(payload, next);
    // A zero key would let ws skip unmasking; keys come from the PRNG but are never all zero.
    do maskKey.writeUInt32LE(next(), 0);
    while (maskKey.readUInt32LE(0) === 0);
    offset += writeReferenceFrame(pristine, offset, payload, maskKey);
    payloadHash = fnv1a(payload, payloadHash);
  }
  return { pristine, frames, payloadHash, streamHash: fnv1a(pristine) };
}

function buildEncodeInput(size: number): EncodeInput {
  const payload = Buffer.allocUnsafe(size);
  fillRandom(payload, prng(0xe2c0de00 + size));
  const batch = Math.max(1, Math.ceil(ITERATION_BYTES / wireLength(size, true)));
  return { payload, batch, unmaskedBatch: Math.max(batch, MIN_UNMASKED_BATCH) };
}

/** The decode work buffer: `pristine` is copied into it before each timed pass, then cut in chunks. */
function makeChunks(work: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < work.length; i += CHUNK_SIZE) chunks.push(work.subarray(i, Math.min(work.length, i + CHUNK_SIZE)));
  return chunks;
}

// ---------------------------------------------------------------------------------------------------
// Worker side

/** Minimal typings of the ws internals used here (ws/lib/receiver and ws/lib/sender). */
interface WsReceiver {
  write(chunk: Buffer): boolean;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
interface WsReceiverClass {
  new (options: { isServer: boolean; binaryType: string; maxPayload: number; skipUTF8Validation?: boolean }): WsReceiver;
}
interface WsFrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
interface WsSenderClass {
  frame(data: Buffer, options: WsFrameOptions): Buffer[];
}

/** Keeps results observable so no work is optimised away; reported back so it is really used. */
let sink = 0;

interface Consumer {
  frames: number;
  bytes: number;
  onPayload(payload: Buffer): void;
}

/** What every decoder's output goes through: count the frame, sum the length, read the last byte. */
function makeConsumer(): Consumer {
  const consumer: Consumer = {
    frames: 0,
    bytes: 0,
    onPayload(payload: Buffer): void {
      consumer.frames++;
      consumer.bytes += payload.length;
      sink ^= payload[payload.length - 1];
    },
  };
  return consumer;
}

/** A hashing consumer for the one-off correctness check. */
function makeVerifier(): { onPayload(payload: Buffer): void; hash(): number; frames(): number } {
  let hash = 0x811c9dc5;
  let frames = 0;
  return {
    onPayload(payload) {
      hash = fnv1a(payload, hash);
      frames++;
    },
    hash: () => hash,
    frames: () => frames,
  };
}

/** A streaming decoder under test: bytes in by `write`, payloads out to the sink it was built with. */
type DecoderFactory = (onPayload: (payload: Buffer) => void) => Promise<{ write(chunk: Buffer): void; error(): Error | null }>;
type EncoderFunction = (payload: Buffer) => Buffer[];

interface WorkerState {
  kind: WorkerKind;
  decoders: Map<string, DecoderFactory>;
  encoders: Map<string, EncoderFunction>;
  decodeInputs: Map<number, DecodeInput>;
  encodeInputs: Map<number, EncodeInput>;
  jobs: Map<string, TimedJob>;
  bufferutilActive: boolean | null;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A stream under test: objects written in, output counted by 'data' events. */
type StreamFactory = () => Transform;

type TimedJob = (Job | AsyncJob) & { bytesPerIteration: number };

const streamFactories = new Map<string, StreamFactory>([
  ['identity', () => new Transform({ objectMode: true, transform: (chunk: unknown, _encoding, callback) => callback(null, chunk) })],
  ['stream-masked', () => new FrameEncoder({ mask: true })],
  ['stream-unmasked', () => new FrameEncoder({ mask: false })],
]);

/**
 * Writes `batch` frames into a long-lived stream as a pipeline producer does (write until write() returns
 * false, then wait for 'drain'), and resolves when all the output has come out of its readable side.
 */
function streamJob(stream: Transform, frame: FrameInput, batch: number, expectedUnits: number, unitsOf: (out: unknown) => number): AsyncJob {
  let units = 0;
  let target = Infinity;
  let done: (() => void) | null = null;
  stream.on('data', (out: unknown) => {
    units += unitsOf(out);
    if (units >= target && done !== null) {
      const resolve = done;
      done = null;
      resolve();
    }
  });
  const drained = (): Promise<void> => new Promise((resolve) => stream.once('drain', resolve));
  return {
    async runAsync() {
      units = 0;
      target = expectedUnits;
      const finished = new Promise<void>((resolve) => (done = resolve));
      for (let i = 0; i < batch; i++) {
        if (!stream.write(frame)) await drained();
      }
      await finished;
      if (units !== expectedUnits) throw new Error(`stream: ${units}/${expectedUnits} units out`);
      return batch;
    },
  };
}

/** A byte sink standing for a socket: counts what it is handed and reads its last byte, done at once. */
interface ByteSink {
  stream: Writable;
  bytes: number;
  /** Resolves the current timed pass once `bytes` reaches `target`. */
  target: number;
  done: (() => void) | null;
}

function makeByteSink(): ByteSink {
  const state: ByteSink = { stream: null as unknown as Writable, bytes: 0, target: Infinity, done: null };
  const take = (chunk: Buffer): void => {
    state.bytes += chunk.length;
    sink ^= chunk[chunk.length - 1];
  };
  const check = (): void => {
    if (state.bytes >= state.target && state.done !== null) {
      const resolve = state.done;
      state.done = null;
      resolve();
    }
  };
  // write and writev, as a net.Socket has: ws's cork/write/write/uncork becomes one writev, as on a socket.
  state.stream = new Writable({
    highWaterMark: SINK_HIGH_WATER_MARK,
    write(chunk: Buffer, _encoding, callback) {
      take(chunk);
      check();
      callback();
    },
    writev(chunks: { chunk: Buffer }[], callback) {
      for (let i = 0; i < chunks.length; i++) take(chunks[i].chunk);
      check();
      callback();
    },
  });
  return state;
}

/**
 * Hands `batch` frames to `writeFrame` as a pipeline producer does (until it returns false, then wait for
 * `drainOf`'s 'drain'), and resolves when the sink has received all `expectedBytes`.
 */
function sinkJob(byteSink: ByteSink, writeFrame: () => boolean, drainOf: Writable, batch: number, expectedBytes: number): AsyncJob {
  const drained = (): Promise<void> => new Promise((resolve) => drainOf.once('drain', resolve));
  return {
    async runAsync() {
      byteSink.bytes = 0;
      byteSink.target = expectedBytes;
      const finished = new Promise<void>((resolve) => (byteSink.done = resolve));
      for (let i = 0; i < batch; i++) {
        if (!writeFrame()) await drained();
      }
      await finished;
      if (byteSink.bytes !== expectedBytes) throw new Error(`sink: ${byteSink.bytes}/${expectedBytes} bytes in`);
      return batch;
    },
  };
}

/** Writes a few frames into a fresh FrameEncoder and parses its output; throws on any mismatch. */
async function verifyFrameEncoder(name: string, payload: Buffer, masked: boolean): Promise<void> {
  const copy = Buffer.from(payload);
  const encoder = new FrameEncoder({ mask: masked });
  const out: Buffer[] = [];
  encoder.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((resolve) => encoder.once('end', resolve));
  for (let i = 0; i < 3; i++) encoder.write({ opcode: OPCODE_BINARY, payload });
  encoder.end();
  await ended;
  const wire = Buffer.concat(out);
  if (!payload.equals(copy)) throw new Error(`${name}: the encoder modified the caller's payload`);
  if (wire.length !== 3 * wireLength(payload.length, masked)) throw new Error(`${name}: ${wire.length} bytes on the wire`);
  const frames = readReferenceFrames(wire);
  if (frames.length !== 3 || !frames.every((f) => f.equals(payload))) throw new Error(`${name}: payloads do not round-trip`);
}

function setUpWorker(kind: WorkerKind): WorkerState {
  const decoders = new Map<string, DecoderFactory>();
  const encoders = new Map<string, EncoderFunction>();
  let bufferutilActive: boolean | null = null;

  if (kind === 'wsflow' || kind === 'wsflow-bufferutil') {
    // The zero-dependency worker masks with the WebAssembly module; the other picks the addon up.
    const expected = kind === 'wsflow' ? 'wasm' : 'bufferutil';
    if (maskImplementation !== expected) throw new Error(`worker ${kind} masks with ${maskImplementation}, not ${expected}`);
    bufferutilActive = maskImplementation === 'bufferutil';
    decoders.set('parser', async (onPayload) => {
      const parser = new FrameParser({ requireMask: true, maxPayload: MAX_PAYLOAD }, (frame: Frame) => {
        onPayload(frame.payload);
      });
      return { write: (chunk) => void parser.push(chunk), error: () => null };
    });
    decoders.set('decoder', async (onPayload) => {
      const decoder = new FrameDecoder({ requireMask: true, maxPayload: MAX_PAYLOAD });
      let failure: Error | null = null;
      decoder.on('data', (frame: Frame) => onPayload(frame.payload));
      decoder.on('error', (err: Error) => (failure = err));
      // Let the stream switch to flowing mode, after which frames are emitted synchronously.
      await nextTurn();
      return { write: (chunk) => void decoder.write(chunk), error: () => failure };
    });
    encoders.set('masked', (payload) => serializeFrame(0x80 | OPCODE_BINARY, payload, true));
    encoders.set('unmasked', (payload) => serializeFrame(0x80 | OPCODE_BINARY, payload, false));
  } else {
    // Required here, after the environment was set for this process: ws reads WS_NO_BUFFER_UTIL at load.
    // ws's "exports" hides lib/, so its internals are required by file path.
    const wsLib = path.join(path.dirname(require.resolve('ws/package.json', { paths: [repoRoot()] })), 'lib');
    const Receiver = require(path.join(wsLib, 'receiver.js')) as WsReceiverClass;
    const Sender = require(path.join(wsLib, 'sender.js')) as WsSenderClass;
    const bufferUtil = require(path.join(wsLib, 'buffer-util.js')) as { unmask: (...args: unknown[]) => void };
    bufferutilActive = /bufferUtil\./.test(bufferUtil.unmask.toString());
    if (bufferutilActive !== (kind === 'ws-bufferutil')) {
      throw new Error(`ws in worker "${kind}" ${bufferutilActive ? 'uses' : 'does not use'} bufferutil`);
    }
    if (kind === 'ws-bufferutil') {
      // bufferutil falls back to plain JS when its native binding cannot be loaded: require the real one.
      const native = require('bufferutil') as object;
      const fallback = require('bufferutil/fallback') as object;
      if (native === fallback) throw new Error('bufferutil loaded its JS fallback, not the native addon');
    }
    decoders.set('receiver', async (onPayload) => {
      // Server role (masked frames in), as a WebSocketServer creates it; binary frames, so no UTF-8 check.
      const receiver = new Receiver({ isServer: true, binaryType: 'nodebuffer', maxPayload: MAX_PAYLOAD });
      let failure: Error | null = null;
      receiver.on('message', (data) => onPayload(data));
      receiver.on('error', (err) => (failure = err));
      // ws's WebSocket feeds its Receiver with receiver.write(chunk) from the socket's 'data' event.
      return { write: (chunk) => void receiver.write(chunk), error: () => failure };
    });
    // As ws's WebSocket#send() frames a Buffer: readOnly (the caller's data is not masked in place).
    const masked: WsFrameOptions = { fin: true, rsv1: false, opcode: OPCODE_BINARY, mask: true, readOnly: true };
    const unmasked: WsFrameOptions = { fin: true, rsv1: false, opcode: OPCODE_BINARY, mask: false, readOnly: true };
    encoders.set('masked', (payload) => Sender.frame(payload, masked));
    encoders.set('unmasked', (payload) => Sender.frame(payload, unmasked));
  }

  const decodeInputs = new Map<number, DecodeInput>();
  const encodeInputs = new Map<number, EncodeInput>();
  for (const size of SIZES) {
    decodeInputs.set(size, buildDecodeInput(size));
    encodeInputs.set(size, buildEncodeInput(size));
  }
  return { kind, decoders, encoders, decodeInputs, encodeInputs, jobs: new Map(), bufferutilActive };
}

/** Decodes the pristine stream once with a fresh decoder and a hashing consumer; throws on any mismatch. */
async function verifyDecoder(name: string, factory: DecoderFactory, input: DecodeInput): Promise<void> {
  const verifier = makeVerifier();
  const decoder = await factory(verifier.onPayload);
  const work = Buffer.from(input.pristine);
  for (const chunk of makeChunks(work)) decoder.write(chunk);
  await nextTurn();
  const err = decoder.error();
  if (err) throw new Error(`${name}: ${err.message}`);
  if (verifier.frames() !== input.frames || verifier.hash() !== input.payloadHash) {
    throw new Error(`${name}: decoded ${verifier.frames()}/${input.frames} frames, payload hash mismatch`);
  }
}

/** Encodes the payload once and parses the result with the reference reader; throws on any mismatch. */
function verifyEncoder(name: string, encode: EncoderFunction, payload: Buffer, masked: boolean): void {
  const copy = Buffer.from(payload);
  const wire = Buffer.concat(encode(payload));
  if (!payload.equals(copy)) throw new Error(`${name}: the encoder modified the caller's payload`);
  if (wire.length !== wireLength(payload.length, masked)) throw new Error(`${name}: ${wire.length} bytes on the wire`);
  if (((wire[1] & 0x80) !== 0) !== masked || wire[0] !== (0x80 | OPCODE_BINARY)) throw new Error(`${name}: bad header`);
  const frames = readReferenceFrames(wire);
  if (frames.length !== 1 || !frames[0].equals(payload)) throw new Error(`${name}: payload does not round-trip`);
}

async function getJob(state: WorkerState, direction: Direction, impl: string, size: number): Promise<TimedJob> {
  const key = `${direction}/${impl}/${size}`;
  const cached = state.jobs.get(key);
  if (cached) return cached;
  let job: TimedJob;

  if (direction === 'decode') {
    const input = state.decodeInputs.get(size);
    if (!input) throw new Error(`no decode input of size ${size}`);
    // Decoders unmask in place, so each timed pass reads a fresh copy of the pristine stream, made
    // untimed just before it (the same for every implementation, so every one starts with the
    // stream equally warm in the cache). The stream is one buffer cut into 64 KiB views.
    const work = Buffer.allocUnsafe(input.pristine.length);
    const chunks = makeChunks(work);
    const prepare = (): void => void input.pristine.copy(work);
    if (impl === 'copy') {
      const target = Buffer.allocUnsafe(work.length);
      job = {
        bytesPerIteration: work.length,
        prepare,
        run() {
          let offset = 0;
          for (let i = 0; i < chunks.length; i++) offset += chunks[i].copy(target, offset);
          sink ^= target[offset - 1];
          return input.frames;
        },
      };
    } else {
      const factory = state.decoders.get(impl);
      if (!factory) throw new Error(`worker ${state.kind} has no decoder "${impl}"`);
      await verifyDecoder(`${state.kind}/${impl}/${size}`, factory, input);
      const consumer = makeConsumer();
      const decoder = await factory(consumer.onPayload);
      const expectedBytes = input.frames * size;
      job = {
        bytesPerIteration: work.length,
        prepare,
        run() {
          consumer.frames = 0;
          consumer.bytes = 0;
          for (let i = 0; i < chunks.length; i++) decoder.write(chunks[i]);
          // The whole stream must have been decoded within the timed region.
          if (consumer.frames !== input.frames || consumer.bytes !== expectedBytes) {
            const err = decoder.error();
            throw new Error(
              `${state.kind}/${impl}/${size}: ${consumer.frames}/${input.frames} frames decoded synchronously` +
                (err ? ` (${err.message})` : ''),
            );
          }
          return consumer.frames;
        },
      };
    }
  } else {
    const input = state.encodeInputs.get(size);
    if (!input) throw new Error(`no encode input of size ${size}`);
    const { payload } = input;
    const unmaskedImpl = impl === 'unmasked' || impl === 'stream-unmasked' || impl === 'sink-unmasked' || impl === 'pipe-unmasked';
    const batch = unmaskedImpl || impl === 'identity' ? input.unmaskedBatch : input.batch;
    const streamFactory = streamFactories.get(impl);
    if (impl === 'sink-masked' || impl === 'sink-unmasked') {
      const encode = state.encoders.get(unmaskedImpl ? 'unmasked' : 'masked');
      if (!encode) throw new Error(`worker ${state.kind} has no encoder for "${impl}"`);
      const byteSink = makeByteSink();
      const socket = byteSink.stream;
      // As ws's Sender.sendFrame hands a frame's buffers to its socket.
      const writeFrame = (): boolean => {
        const list = encode(payload);
        if (list.length !== 2) return socket.write(list[0]);
        socket.cork();
        socket.write(list[0]);
        const ok = socket.write(list[1]);
        socket.uncork();
        return ok;
      };
      const expectedBytes = batch * wireLength(size, !unmaskedImpl);
      job = { bytesPerIteration: expectedBytes, ...sinkJob(byteSink, writeFrame, socket, batch, expectedBytes) };
    } else if (impl === 'pipe-masked' || impl === 'pipe-unmasked') {
      await verifyFrameEncoder(`${state.kind}/${impl}/${size}`, payload, !unmaskedImpl);
      const byteSink = makeByteSink();
      const encoder = new FrameEncoder({ mask: !unmaskedImpl });
      encoder.pipe(byteSink.stream);
      const frame: FrameInput = { opcode: OPCODE_BINARY, payload };
      const expectedBytes = batch * wireLength(size, !unmaskedImpl);
      job = { bytesPerIteration: expectedBytes, ...sinkJob(byteSink, () => encoder.write(frame), encoder, batch, expectedBytes) };
    } else if (streamFactory) {
      const masked = impl === 'stream-masked';
      if (impl !== 'identity') await verifyFrameEncoder(`${state.kind}/${impl}/${size}`, payload, masked);
      const frame: FrameInput = { opcode: OPCODE_BINARY, payload };
      // The identity Transform passes the frame objects through: count them; the encoder's output is bytes.
      const identity = impl === 'identity';
      const expected = identity ? batch : batch * wireLength(size, masked);
      const unitsOf = identity
        ? (): number => 1
        : (out: unknown): number => {
            const b = out as Buffer;
            sink ^= b[b.length - 1];
            return b.length;
          };
      job = { bytesPerIteration: batch * wireLength(size, masked), ...streamJob(streamFactory(), frame, batch, expected, unitsOf) };
    } else if (impl === 'copy') {
      // The bytes of one masked frame copied into a preallocated buffer, once per frame.
      const frame = Buffer.allocUnsafe(wireLength(size, true));
      writeReferenceFrame(frame, 0, payload, Buffer.from([1, 2, 3, 4]));
      const target = Buffer.allocUnsafe(frame.length);
      job = {
        bytesPerIteration: batch * frame.length,
        run() {
          for (let i = 0; i < batch; i++) frame.copy(target, 0);
          sink ^= target[target.length - 1];
          return batch;
        },
      };
    } else {
      const encode = state.encoders.get(impl);
      if (!encode) throw new Error(`worker ${state.kind} has no encoder "${impl}"`);
      const masked = impl === 'masked';
      verifyEncoder(`${state.kind}/${impl}/${size}`, encode, payload, masked);
      const expectedBytes = batch * wireLength(size, masked);
      job = {
        bytesPerIteration: expectedBytes,
        run() {
          // Consume the output: sum the lengths and read the last byte of every buffer.
          let bytes = 0;
          for (let i = 0; i < batch; i++) {
            const buffers = encode(payload);
            for (let j = 0; j < buffers.length; j++) {
              const b = buffers[j];
              bytes += b.length;
              sink ^= b[b.length - 1];
            }
          }
          if (bytes !== expectedBytes) throw new Error(`${state.kind}/${impl}/${size}: ${bytes} bytes encoded`);
          return batch;
        },
      };
    }
  }
  state.jobs.set(key, job);
  return job;
}

type WorkerRequest =
  | { op: 'hello' }
  | { op: 'warmup'; direction: Direction; impl: string; size: number; ms: number }
  | { op: 'measure'; direction: Direction; impl: string; size: number; ms: number; clock: Clock };

interface HelloReply {
  kind: WorkerKind;
  pid: number;
  streamHashes: number[];
  bufferutilActive: boolean | null;
}

interface MeasureReply {
  seconds: number;
  items: number;
  bytes: number;
  sink: number;
}

function runWorker(kind: WorkerKind): void {
  let setUp: WorkerState | null = null;
  serveRequests(async (body) => {
    const request = body as WorkerRequest;
    // Set up on the first request, so a failure is reported to the coordinator rather than crashing.
    const state = (setUp ??= setUpWorker(kind));
    switch (request.op) {
      case 'hello':
        return {
          kind,
          pid: process.pid,
          streamHashes: SIZES.map((s) => state.decodeInputs.get(s)?.streamHash ?? 0),
          bufferutilActive: state.bufferutilActive,
        } satisfies HelloReply;
      case 'warmup': {
        const job = await getJob(state, request.direction, request.impl, request.size);
        if ('runAsync' in job) await measureAsync(job, request.ms, 3, false);
        else warmUp(job, request.ms);
        return null;
      }
      case 'measure': {
        const job = await getJob(state, request.direction, request.impl, request.size);
        // The full GC measure() would run, here, so that it stays off the CPU clock, then the job untimed for a
        // while: the forced GC leaves V8's young generation at its smallest, and until it has grown back,
        // objects that live across a tick (a stream's queued writes) are promoted and collected by full GCs.
        // Timed at once, 80–250 ms windows read FrameEncoder and the identity Transform at a third of their rate.
        (globalThis as { gc?: () => void }).gc?.();
        if ('runAsync' in job) await measureAsync(job, SETTLE_MS, 1, false);
        else measure(job, SETTLE_MS, 1, false);
        const cpu0 = process.cpuUsage();
        const m = 'runAsync' in job ? await measureAsync(job, request.ms, 2, false) : measure(job, request.ms, 2, false);
        const cpu = process.cpuUsage(cpu0);
        // Let deferred stream bookkeeping (ws's and FrameDecoder's afterWrite ticks) run, untimed.
        await nextTurn();
        return {
          seconds: request.clock === 'cpu' ? (cpu.user + cpu.system) / 1e6 : m.seconds,
          items: m.items,
          bytes: m.iterations * job.bytesPerIteration,
          sink,
        } satisfies MeasureReply;
      }
      default:
        throw new Error(`unknown request ${JSON.stringify(body)}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Coordinator side

interface Options {
  quick: boolean;
  reps: number;
  ms: number;
  warmupMs: number;
  sizes: number[];
  directions: Direction[];
  /** Only the rows of these implementations (`Row.impl`), or all. */
  impls: string[] | null;
  clock: Clock;
  write: boolean;
  profile: string | null;
}

const HELP = `Usage: node dist/bench/codec.js [options]
  --quick          3 repetitions of 80 ms per measurement (default: 5 of 250 ms)
  --reps=N         repetitions (at least 3)
  --ms=N           timed milliseconds per measurement
  --sizes=A,B,…    payload sizes in bytes (default ${SIZES.join(',')})
  --only=decode|encode
  --impls=A,B,…    only these rows (${[...new Set(ROWS.map((r) => r.impl))].join(',')}), e.g. --impls=sink-unmasked,pipe-unmasked
  --clock=cpu      rates per CPU second of the worker (user + system), for a loaded machine: time the worker
                   spends preempted is not counted (decode rows then include the copy of their input)
  --no-write       do not update docs/benchmarks.md
  --profile[=DIR]  run the workers under --cpu-prof, writing profiles to DIR (default .bench-tmp/codec-prof)`;

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const options: Options = {
    quick,
    reps: quick ? 3 : 5,
    ms: quick ? 80 : 250,
    warmupMs: quick ? 50 : 150,
    sizes: SIZES,
    directions: ['decode', 'encode'],
    impls: null,
    clock: 'wall',
    write: true,
    profile: null,
  };
  for (const arg of argv) {
    const [name, value] = arg.split('=', 2);
    switch (name) {
      case '--quick':
        break;
      case '--reps':
        options.reps = Math.max(3, Number(value));
        break;
      case '--ms':
        options.ms = Number(value);
        break;
      case '--sizes':
        options.sizes = value.split(',').map(Number);
        if (!options.sizes.every((s) => SIZES.includes(s))) throw new Error(`--sizes: choose from ${SIZES.join(',')}`);
        break;
      case '--only':
        if (value !== 'decode' && value !== 'encode') throw new Error('--only=decode or --only=encode');
        options.directions = [value];
        break;
      case '--impls':
        options.impls = value.split(',');
        if (!options.impls.every((i) => ROWS.some((r) => r.impl === i))) throw new Error(`--impls: unknown implementation\n${HELP}`);
        break;
      case '--clock':
        if (value !== 'cpu' && value !== 'wall') throw new Error('--clock=cpu or --clock=wall');
        options.clock = value;
        break;
      case '--no-write':
        options.write = false;
        break;
      case '--profile':
        options.profile = value ?? path.join(repoRoot(), '.bench-tmp', 'codec-prof');
        break;
      case '--help':
        console.log(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${HELP}`);
    }
  }
  if (!(options.reps >= 3) || !(options.ms > 0)) throw new Error(`bad --reps or --ms\n${HELP}`);
  return options;
}

interface Sample {
  framesPerSecond: number;
  bytesPerSecond: number;
}

async function coordinate(options: Options): Promise<void> {
  const started = Date.now();
  const execArgv = ['--expose-gc'];
  if (options.profile) execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profile}`);
  const env: Record<WorkerKind, Record<string, string | undefined>> = {
    wsflow: { WSFLOW_NO_BUFFERUTIL: '1', WSFLOW_NO_WASM: undefined },
    'wsflow-bufferutil': { WSFLOW_NO_BUFFERUTIL: undefined, WSFLOW_NO_WASM: undefined },
    ws: { WS_NO_BUFFER_UTIL: '1' },
    'ws-bufferutil': { WS_NO_BUFFER_UTIL: undefined },
  };
  // Fresh workers for every repetition: how V8 compiles the same code differs from one process to the
  // next (inlining, tier-up timing), by up to ±20% in these loops. One process per kind for the whole run
  // made that a fixed bias per kind that repetitions could not average out.
  let workers = new Map<WorkerKind, Worker>();
  const worker = (kind: WorkerKind): Worker => workers.get(kind) as Worker;
  const stop = (): void => {
    for (const w of workers.values()) w.kill();
  };
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });

  const rows = ROWS.filter((r) => options.directions.includes(r.direction) && (options.impls === null || options.impls.includes(r.impl)));
  const cells: { direction: Direction; size: number; rows: Row[] }[] = [];
  for (const direction of options.directions) {
    for (const size of options.sizes) cells.push({ direction, size, rows: rows.filter((r) => r.direction === direction) });
  }

  const startWorkers = async (): Promise<void> => {
    workers = new Map();
    for (const kind of WORKER_KINDS) {
      workers.set(kind, new Worker(kind, __filename, [`--worker=${kind}`], { env: env[kind], execArgv }));
    }
    const hellos = await Promise.all(WORKER_KINDS.map((k) => worker(k).request<HelloReply>({ op: 'hello' })));
    const reference = JSON.stringify(hellos[0].streamHashes);
    for (const hello of hellos) {
      if (JSON.stringify(hello.streamHashes) !== reference) throw new Error(`worker ${hello.kind} built different input bytes`);
    }
    // Warm-up: every function on every size, before any timing (so all code paths have been seen).
    for (const cell of cells) {
      for (const row of cell.rows) {
        await worker(row.worker).request({ op: 'warmup', direction: row.direction, impl: row.impl, size: cell.size, ms: options.warmupMs });
      }
    }
  };
  const stopWorkers = async (): Promise<void> => {
    await Promise.all([...workers.values()].map((w) => w.close()));
  };

  try {
    const info = machineInfo();
    console.log(`wsflow codec benchmark — ${info.cpu} (${info.cores} cores), Node ${info.node}`);
    console.log(
      `ws ${packageVersion('ws')}, bufferutil ${packageVersion('bufferutil')}; ` +
        `${options.reps} repetitions × ${options.ms} ms per measurement, warm-up ${options.warmupMs} ms, fresh workers each repetition` +
        (options.clock === 'cpu' ? '; rates per CPU second' : ''),
    );

    const samples = new Map<string, Sample[]>(); // `${rowKey}/${size}` → one sample per repetition
    for (let rep = 0; rep < options.reps; rep++) {
      process.stdout.write(`repetition ${rep + 1}/${options.reps}…`);
      await startWorkers();
      for (const cell of cells) {
        const n = cell.rows.length;
        for (let i = 0; i < n; i++) {
          const row = cell.rows[(i + rep) % n];
          const m = await worker(row.worker).request<MeasureReply>({
            op: 'measure',
            direction: row.direction,
            impl: row.impl,
            size: cell.size,
            ms: options.ms,
            clock: options.clock,
          });
          const key = `${rowKey(row)}/${cell.size}`;
          const list = samples.get(key) ?? [];
          list.push({ framesPerSecond: m.items / m.seconds, bytesPerSecond: m.bytes / m.seconds });
          samples.set(key, list);
        }
      }
      await stopWorkers();
      process.stdout.write(` ${Math.round((Date.now() - started) / 1000)} s\n`);
    }

    const report = buildReport(options, cells, samples);
    console.log(`\n${report.text}\n`);
    const seconds = Math.round((Date.now() - started) / 1000);
    console.log(`total ${seconds} s`);

    if (options.write) {
      const file = path.join(repoRoot(), 'docs', 'benchmarks.md');
      const command = ['npm run bench:codec', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');
      const body = [
        '## Codec: frame decode and encode',
        '',
        `- Command: \`${command}\` (${options.reps} repetitions × ${options.ms} ms per measurement, ${seconds} s in all` +
          `${options.clock === 'cpu' ? ', rates per CPU second of the worker' : ''})`,
        `- Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, ${info.platform}`,
        `- Node ${info.node} (V8 ${info.v8}), ws ${packageVersion('ws')}, bufferutil ${packageVersion('bufferutil')}`,
        `- Date: ${info.date}`,
        '',
        METHOD_NOTES,
        '',
        report.markdown,
      ].join('\n');
      writeMarkdownSection(file, 'codec', body, DOC_INTRO);
      console.log(`wrote ${path.relative(process.cwd(), file)} (section "codec")`);
    }
  } finally {
    await stopWorkers();
  }
}

const DOC_INTRO = `# Benchmarks

Measured results of the scripts in \`bench/\`. Each script rewrites only its own section, between its
\`<!-- name:start -->\` and \`<!-- name:end -->\` markers; text outside the markers is kept.
The machines are shared and noisy, so absolute rates move from run to run: read the ratios, which
are computed pair by pair from measurements taken back to back.
`;

const METHOD_NOTES = `How it is measured (\`bench/codec.ts\`):

- **Decode**: a stream of ~4 MiB of masked binary frames (client → server) of one payload size, cut
  into 64 KiB chunks, fed whole to a long-lived decoder; the time covers the entire stream. Decoders
  unmask in place, so before every timed pass the pristine stream is copied into the work buffer,
  untimed, identically for every implementation. Every frame is consumed (count, length sum, last byte).
  ws: \`Receiver\` (\`ws/lib/receiver\`) in the server role, \`binaryType: 'nodebuffer'\`, fed with
  \`receiver.write(chunk)\` as ws's WebSocket does; it emits one \`'message'\` per single-frame message
  (binary, so no UTF-8 validation, like wsflow's parser). wsflow: \`FrameParser.push\` (what the
  connection uses) and \`FrameDecoder.write\` (the Transform, in flowing mode).
- **Encode**: ~4 MiB of frames of one payload size per timed pass (unmasked: at least 16,384 frames, as
  their cost is per frame, not per byte), all from the same payload buffer; every output buffer is consumed. ws: \`Sender.frame(data, {fin, opcode: 2, mask, readOnly: true})\`
  (how \`WebSocket#send\` frames a Buffer: the caller's payload is not masked in place). wsflow:
  \`serializeFrame(0x82, payload, masked)\`. Masked = client role, unmasked = server role.
- **Streams**: \`FrameEncoder\` rows write the same frame object (\`{ opcode: 2, payload }\`) into one long-lived
  encoder as a pipeline producer does (\`write()\` until it returns false, then wait for \`'drain'\`), and the
  time runs until all the bytes have come out of its readable side (\`'data'\`, flowing). The identity row is
  \`new Transform({ objectMode: true, transform: (c, _, cb) => cb(null, c) })\` driven the same way: the
  least any objectMode Transform costs per frame.
- **Into a sink** (the fair comparison for a stream): both libraries hand their bytes to the same byte sink,
  a \`Writable\` with \`write\` and \`writev\` that counts the bytes, reads the last one and calls back at once,
  with a socket's high-water mark (16 KiB). ws: \`Sender.frame\`, then its list written as \`Sender.sendFrame\`
  writes it to the socket (\`cork\`, a \`write\` per buffer, \`uncork\`). wsflow: \`FrameEncoder\` piped into the sink,
  the frame objects written into it. Both producers wait for \`'drain'\` when a write returns false (the sink's,
  the encoder's), and the time runs until the sink has every byte. The **(stream)** rows above stay as the
  strict frame-by-frame figure: the encoder's output against \`Sender.frame\`'s list, which no one has written yet.
- **wsflow** rows run with no addon (\`WSFLOW_NO_BUFFERUTIL=1\`: masking by the WebAssembly SIMD module, as
  the package installs); **+ bufferutil** rows with the addon picked up. Each worker checks
  \`maskImplementation\` at startup.
- **Buffer.copy**: the same bytes copied into a preallocated buffer: the whole stream in 64 KiB chunks
  (decode), one frame's bytes per frame (encode). A memory-bandwidth reference, not a competitor.
- Four worker processes, one request at a time: wsflow without the addon (and Buffer.copy and the identity
  Transform), wsflow with it, ws with \`WS_NO_BUFFER_UTIL=1\`, and ws with bufferutil (checked to be the
  native addon), started afresh for every repetition: how V8
  compiles the same loop varies from process to process (±20% here), so one process per kind for a whole
  run was a fixed bias. Each worker builds the same inputs from a seeded PRNG (checked by hash), verifies
  every implementation's output once, warms every function up, and runs a full GC before each measurement,
  then the measured job untimed for 100 ms (the forced GC shrinks V8's young generation; timed at once, the
  stream rows read a third of their rate until it had grown back).
- Each repetition measures every cell's implementations back to back in a rotated order. Rates are
  medians over repetitions; MB/s counts wire bytes (header + payload, 10^6 bytes); ± is half the
  min–max range. **×ws** is wsflow's throughput divided by the ws variant's, per repetition, then the
  median: above 1.00× wsflow is faster.`;

function buildReport(
  options: Options,
  cells: { direction: Direction; size: number; rows: Row[] }[],
  samples: Map<string, Sample[]>,
): { text: string; markdown: string } {
  const columns: Column[] = [
    { header: 'payload' },
    { header: 'implementation' },
    { header: 'frames/s', align: 'right' },
    { header: 'MB/s', align: 'right' },
    { header: '±', align: 'right' },
    { header: '×ws', align: 'right' },
    { header: '×ws+bufferutil', align: 'right' },
  ];
  const textParts: string[] = [];
  const mdParts: string[] = [];
  const shortfalls: string[] = [];
  const minima = new Map<string, { ratio: number; size: number }>();

  for (const direction of options.directions) {
    const rows: (string[] | null)[] = [];
    for (const cell of cells.filter((c) => c.direction === direction)) {
      if (rows.length > 0) rows.push(null);
      for (const row of cell.rows) {
        const list = samples.get(`${rowKey(row)}/${cell.size}`) ?? [];
        const fps = list.map((s) => s.framesPerSecond);
        const bps = list.map((s) => s.bytesPerSecond);
        let vsWs = '';
        let vsWsBu = '';
        if (row.versus) {
          const against = (key: string): number =>
            median(pairwiseRatios(fps, (samples.get(`${key}/${cell.size}`) ?? []).map((s) => s.framesPerSecond)));
          const r1 = against(row.versus.ws);
          const r2 = against(row.versus.wsBufferutil);
          vsWs = formatRatio(r1);
          vsWsBu = formatRatio(r2);
          if (r2 < 1) shortfalls.push(`${direction} ${formatSize(cell.size)} ${row.label}: ${formatRatio(r2)}`);
          const m = minima.get(row.label);
          if (!m || r2 < m.ratio) minima.set(row.label, { ratio: r2, size: cell.size });
        }
        rows.push([
          formatSize(cell.size),
          row.label,
          formatCount(median(fps)),
          formatMBps(median(bps)),
          formatSpread(relativeSpread(fps)),
          vsWs,
          vsWsBu,
        ]);
      }
    }
    const title = direction === 'decode' ? 'Decode (64 KiB chunks in, frames out)' : 'Encode (payload in, wire buffers out)';
    textParts.push(`${title.toUpperCase()}\n${renderTextTable(columns, rows)}`);
    mdParts.push(`### ${title}\n\n${renderMarkdownTable(columns, rows)}`);
  }

  const summary: string[] = [];
  for (const [label, m] of minima) summary.push(`${label}: lowest ${formatRatio(m.ratio)} ws+bufferutil (at ${formatSize(m.size)})`);
  // The stream's own cost: time per frame of the FrameEncoder over that of an identity objectMode Transform.
  for (const cell of cells.filter((c) => c.direction === 'encode' && c.size <= 125)) {
    const fps = (impl: string): number[] => (samples.get(`encode/wsflow/${impl}/${cell.size}`) ?? []).map((x) => x.framesPerSecond);
    for (const impl of ['stream-masked', 'stream-unmasked']) {
      const identity = fps('identity');
      const encoder = fps(impl);
      if (identity.length === 0 || encoder.length === 0) continue;
      summary.push(
        `wsflow FrameEncoder ${impl === 'stream-masked' ? 'masked' : 'unmasked'} at ${formatSize(cell.size)}: ` +
          `${formatRatio(median(pairwiseRatios(identity, encoder)))} the time per frame of the identity Transform`,
      );
    }
  }
  const verdict =
    shortfalls.length === 0
      ? 'Target (≥ 1.0× ws with bufferutil at every frame size): met.'
      : `Target (≥ 1.0× ws with bufferutil at every frame size): NOT met in ${shortfalls.length} cell(s): ${shortfalls.join('; ')}.`;
  textParts.push([...summary, verdict].join('\n'));
  mdParts.push(['### Summary', '', ...summary.map((s) => `- ${s}`), '', verdict].join('\n'));
  return { text: textParts.join('\n\n'), markdown: mdParts.join('\n\n') };
}

// ---------------------------------------------------------------------------------------------------

const workerArg = process.argv.find((a) => a.startsWith('--worker='));
if (workerArg) {
  runWorker(workerArg.slice('--worker='.length) as WorkerKind);
} else {
  coordinate(parseOptions(process.argv.slice(2))).catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
