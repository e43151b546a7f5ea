// What the fan-out benchmark measures: the implementations, the cells, and how each server is started.
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_BACKPRESSURE_LIMIT } from '../../src';
import type { ServerSpec } from '../e2e/processes';
import type { PayloadKind, PayloadSpec } from './payload';

/** In-process implementations. */
export type LocalImpl = 'wsflow' | 'ws' | 'gorilla';
/** Cross-process implementations (through Redis). */
export type RedisImpl = 'wsflow' | 'ws' | 'socket.io';
export type ImplId = LocalImpl | RedisImpl | 'wsflow-slow';

export const IMPL_LABELS: Record<ImplId, string> = {
  wsflow: 'wsflow Hub',
  'wsflow-slow': 'wsflow Hub, one subscriber never reads',
  ws: 'ws',
  gorilla: 'gorilla (chat hub + PreparedMessage)',
  'socket.io': 'socket.io 4 + redis-adapter',
};

interface CellBase {
  id: string;
  size: number;
  conns: number;
  payload: PayloadKind;
}

/** Deliveries/s as fast as subscribers drain, on one server process. */
export interface ThroughputCell extends CellBase {
  type: 'throughput';
  compress: boolean;
  impls: LocalImpl[];
}

/** Latency at one publish rate for all: half the slowest implementation's rate in `of`, same repetition. */
export interface LatencyCell extends CellBase {
  type: 'latency';
  of: string;
  impls: LocalImpl[];
}

/** Bytes per connection and per subscription after GC. */
export interface MemoryCell {
  type: 'memory';
  id: 'memory';
  conns: number;
  topics: number;
  impls: ('wsflow' | 'ws')[];
}

/**
 * The same throughput run without and with one subscriber that never reads, the hub at its default
 * backpressureLimit. Large messages to 100 subscribers, so that the never-reading one gets megabytes
 * per second: the kernel buffers up to 4 MiB of a loopback connection (tcp_wmem) before the process
 * holds any, and the limit must be reached within the warm-up.
 */
export interface SlowCell extends CellBase {
  type: 'slow';
  backpressureLimit: number;
  impls: ('wsflow' | 'wsflow-slow')[];
}

/** Two server processes with the subscribers split between them, one publisher process, Redis. */
export interface RedisCell extends CellBase {
  type: 'redis';
  impls: RedisImpl[];
}

export type Cell = ThroughputCell | LatencyCell | MemoryCell | SlowCell | RedisCell;

export function sizeLabel(bytes: number): string {
  return bytes >= 1024 ? `${bytes >> 10} KiB` : `${bytes} B`;
}

export function cellLabel(cell: Cell): string {
  const conns = (n: number): string => n.toLocaleString('en-US');
  switch (cell.type) {
    case 'throughput':
      return `${sizeLabel(cell.size)}${cell.compress ? ' JSON, deflate' : ''} × ${conns(cell.conns)} subscribers`;
    case 'latency':
      return `${sizeLabel(cell.size)} × ${conns(cell.conns)}, same rate`;
    case 'memory':
      return `${conns(cell.conns)} conns × ${cell.topics} topics`;
    case 'slow':
      return `${sizeLabel(cell.size)} × ${conns(cell.conns)}, slow consumer`;
    case 'redis':
      return `${sizeLabel(cell.size)} text × ${conns(cell.conns)}, 2 processes + Redis`;
  }
}

export function allCells(quick: boolean): Cell[] {
  const local: LocalImpl[] = ['wsflow', 'ws', 'gorilla'];
  const cells: Cell[] = [];
  for (const conns of [1000, 10_000]) {
    for (const size of [64, 1024]) {
      cells.push({ type: 'throughput', id: `bin-${sizeLabel(size).replace(' ', '')}-c${conns}`, size, conns, payload: 'binary', compress: false, impls: local });
    }
  }
  cells.push({ type: 'throughput', id: 'json-deflate-1KiB-c1000', size: 1024, conns: 1000, payload: 'json', compress: true, impls: ['wsflow', 'ws'] });
  if (!quick) cells.push({ type: 'throughput', id: 'json-deflate-1KiB-c10000', size: 1024, conns: 10_000, payload: 'json', compress: true, impls: ['wsflow', 'ws'] });
  cells.push({ type: 'latency', id: 'latency-1KiB-c1000', size: 1024, conns: 1000, payload: 'binary', of: 'bin-1KiB-c1000', impls: local });
  cells.push({ type: 'slow', id: 'slow-16KiB-c100', size: 16 * 1024, conns: 100, payload: 'binary', backpressureLimit: DEFAULT_BACKPRESSURE_LIMIT, impls: ['wsflow', 'wsflow-slow'] });
  cells.push({ type: 'memory', id: 'memory', conns: 10_000, topics: 10, impls: ['wsflow', 'ws'] });
  cells.push({ type: 'redis', id: 'redis-1KiB-c1000', size: 1024, conns: 1000, payload: 'alnum', impls: ['wsflow', 'ws', 'socket.io'] });
  return cells;
}

/**
 * Messages a publisher may have in flight beyond what every subscriber has received: enough to keep the
 * pipeline full, few enough that one window is a small part of the measured window even when the server
 * gets a fraction of a core (at most 50,000 deliveries and about 32 MiB of payload in flight over all
 * subscribers; at least 4; never more than 200, under the gorilla chat hub's queue of 256 per client, so
 * it never drops one).
 */
export function windowFor(size: number, conns: number): number {
  return Math.max(4, Math.min(200, Math.floor((32 << 20) / (size * conns)), Math.floor(50_000 / conns)));
}

/** Runs with this many subscribers or more get twice the warm-up and measured time (a publish costs 10× more). */
export const LONG_RUN_CONNS = 10_000;

export interface ServerOptions {
  root: string;
  buildDir: string;
  payload: PayloadSpec | null;
  window: number;
  rate: number;
  compress: boolean;
  backpressureLimit?: number;
  /** wsflow: sample the largest bufferedAmount (slow-consumer cell). */
  trackBuffered?: boolean;
}

function serversDir(root: string): string {
  return path.join(root, 'dist', 'bench', 'fanout', 'servers');
}

/**
 * Whether the wsflow servers were built: they need `Hub` (and `RedisBroker`), which land on main
 * separately; until then the benchmark runs the anchors alone and says so.
 */
export function wsflowServerBuilt(root: string, which: 'local' | 'redis'): boolean {
  if (which === 'local') return fs.existsSync(path.join(serversDir(root), 'wsflow-fanout.js'));
  return fs.existsSync(path.join(serversDir(root), 'redis-wsflow.js')) && fs.existsSync(path.join(root, 'dist', 'src', 'brokers', 'redis.js'));
}

function publisherArgs(o: ServerOptions, dash: '-' | '--'): string[] {
  if (o.payload === null) return [];
  const p = o.payload;
  return [
    `${dash}payload`, p.file,
    `${dash}kind`, p.type,
    `${dash}stamp-at`, String(p.stampAt),
    `${dash}window`, String(o.window),
    `${dash}rate`, String(o.rate),
  ];
}

/** The in-process server of `impl`. */
export function localServerSpec(impl: LocalImpl, o: ServerOptions): ServerSpec {
  const dir = serversDir(o.root);
  const compress = o.compress ? ['--compress'] : [];
  switch (impl) {
    case 'wsflow': {
      const limit = o.backpressureLimit !== undefined ? ['--backpressure-limit', String(o.backpressureLimit)] : [];
      const track = o.trackBuffered === true ? ['--track-buffered'] : [];
      return { cmd: [process.execPath, '--expose-gc', path.join(dir, 'wsflow-fanout.js'), ...publisherArgs(o, '--'), ...compress, ...limit, ...track] };
    }
    case 'ws':
      return { cmd: [process.execPath, '--expose-gc', path.join(dir, 'ws-fanout.js'), ...publisherArgs(o, '--'), ...compress] };
    case 'gorilla':
      if (o.compress) throw new Error('the gorilla fan-out server has no compression cell');
      return { cmd: [path.join(o.buildDir, 'fanout-gorilla'), ...publisherArgs(o, '-')] };
  }
}

/** A server (or, with `publisher`, the publisher) of the cross-process cell. */
export function redisServerSpec(impl: RedisImpl, redisUrl: string, publisher: boolean, o: ServerOptions): ServerSpec {
  const dir = serversDir(o.root);
  const role = publisher ? ['--publisher', ...publisherArgs(o, '--')] : [];
  if (impl === 'wsflow') return { cmd: [process.execPath, path.join(dir, 'redis-wsflow.js'), '--redis', redisUrl, ...role] };
  return { cmd: [process.execPath, path.join(dir, 'redis-fanout.js'), '--impl', impl === 'socket.io' ? 'sio' : 'ws', '--redis', redisUrl, ...role] };
}
