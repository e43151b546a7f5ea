// What the end-to-end benchmark measures: the implementations and the cells.
import * as path from 'path';
import type { ServerSpec } from './processes';

/**
 * `wsflow` is the package as installed, with no addon (WSFLOW_NO_BUFFERUTIL=1: it masks with its WebAssembly
 * module); `wsflow-bufferutil` picks the native addon up, as it does when the application has installed it.
 * `wsflow-await` is `wsflow` with the README's `for await` idiom; `floor` the raw `net` echo server.
 */
export type ImplId = 'wsflow' | 'wsflow-bufferutil' | 'wsflow-await' | 'ws' | 'ws-bufferutil' | 'gorilla' | 'floor';
export const IMPLS: readonly ImplId[] = ['wsflow', 'wsflow-bufferutil', 'wsflow-await', 'ws', 'ws-bufferutil', 'gorilla', 'floor'];
/** The anchors wsflow is compared with. */
export const ANCHORS: readonly Exclude<ImplId, 'wsflow' | 'wsflow-bufferutil' | 'wsflow-await' | 'floor'>[] = ['ws', 'ws-bufferutil', 'gorilla'];

/**
 * Whether an implementation takes part in a cell. The floor speaks no permessage-deflate and its idle
 * memory says nothing about a library: it serves the plain echo cells and the handshakes only.
 */
export function servesCell(impl: ImplId, cell: Cell): boolean {
  if (impl !== 'floor') return true;
  return cell.type === 'handshake' || (cell.type === 'echo' && !cell.compress);
}

export const IMPL_LABELS: Record<ImplId, string> = {
  wsflow: 'wsflow (no addon)',
  'wsflow-bufferutil': 'wsflow + bufferutil',
  'wsflow-await': 'wsflow, await idiom',
  ws: 'ws (no addon)',
  'ws-bufferutil': 'ws + bufferutil',
  gorilla: 'gorilla/websocket',
  floor: 'Node floor (raw net)',
};

export interface ServerOptions {
  root: string;
  buildDir: string;
  compress: boolean;
  /** The API of the `wsflow` server (`--wsflow-api`, default event); `wsflow-await` always uses `await`. */
  wsflowApi: string;
  /** Extra node flags for a Node server (e.g. --cpu-prof): wsflow's, ws's or the floor's. */
  nodeFlags?: string[];
}

export function serverSpec(impl: ImplId, o: ServerOptions): ServerSpec {
  const servers = path.join(o.root, 'dist', 'bench', 'e2e', 'servers');
  const compress = o.compress ? ['--compress'] : [];
  switch (impl) {
    case 'wsflow':
    case 'wsflow-bufferutil': {
      const addon = impl === 'wsflow-bufferutil';
      return {
        cmd: [
          process.execPath,
          '--expose-gc',
          ...(o.nodeFlags ?? []),
          path.join(servers, 'wsflow-echo.js'),
          '--api',
          o.wsflowApi,
          '--mask',
          addon ? 'bufferutil' : 'wasm',
          ...compress,
        ],
        env: { WSFLOW_NO_BUFFERUTIL: addon ? undefined : '1', WSFLOW_NO_WASM: undefined },
      };
    }
    case 'wsflow-await':
      // As `wsflow` (no addon), with the await idiom.
      return {
        cmd: [
          process.execPath,
          '--expose-gc',
          ...(o.nodeFlags ?? []),
          path.join(servers, 'wsflow-echo.js'),
          '--api',
          'await',
          '--mask',
          'wasm',
          ...compress,
        ],
        env: { WSFLOW_NO_BUFFERUTIL: '1', WSFLOW_NO_WASM: undefined },
      };
    case 'floor':
      // Masks with wsflow's functions, set up as for `wsflow` (no addon).
      return {
        cmd: [process.execPath, '--expose-gc', ...(o.nodeFlags ?? []), path.join(servers, 'floor-echo.js')],
        env: { WSFLOW_NO_BUFFERUTIL: '1', WSFLOW_NO_WASM: undefined },
      };
    case 'ws':
      return { cmd: [process.execPath, '--expose-gc', ...(o.nodeFlags ?? []), path.join(servers, 'ws-echo.js'), ...compress], env: { WS_NO_BUFFER_UTIL: '1' } };
    case 'ws-bufferutil':
      return {
        cmd: [process.execPath, '--expose-gc', ...(o.nodeFlags ?? []), path.join(servers, 'ws-echo.js'), '--bufferutil', ...compress],
        env: { WS_NO_BUFFER_UTIL: undefined },
      };
    case 'gorilla':
      return { cmd: [path.join(o.buildDir, 'gorilla-echo'), ...(o.compress ? ['-compress'] : [])] };
  }
}

export type PayloadKind = 'binary' | 'text' | 'json';

export interface EchoCell {
  type: 'echo';
  id: string;
  payload: PayloadKind;
  size: number;
  conns: number;
  inflight: number;
  compress: boolean;
  /**
   * Whether the load generator sends the messages that are ready together with one write (it does for
   * messages up to {@link WRITE_BATCH_MAX}). Without it, one write(2) per message kept the load generator's
   * core busier than the fastest servers' for small messages: it, not the server, set the pace.
   */
  writeBatching: boolean;
}

export interface HandshakeCell {
  type: 'handshake';
  id: 'handshake';
  concurrency: number;
}

export interface MemoryCell {
  type: 'memory';
  id: 'memory';
  conns: number;
}

export type Cell = EchoCell | HandshakeCell | MemoryCell;

/** Payload bytes in flight over all connections at most (the 1 MiB × 1,000 cell would otherwise hold 1 GiB). */
export const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

export function inflightFor(size: number): number {
  if (size >= 1 << 20) return 1;
  if (size >= 64 << 10) return 4;
  return 8;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1 << 20) return `${bytes >> 20} MiB`;
  if (bytes >= 1024) return `${bytes >> 10} KiB`;
  return `${bytes} B`;
}

/** Largest message the load generator batches writes of: larger ones pay their syscall off on their own. */
export const WRITE_BATCH_MAX = 4096;

export function echoCell(
  payload: PayloadKind,
  size: number,
  conns: number,
  { compress = false, writePerMessage = false }: { compress?: boolean; writePerMessage?: boolean } = {},
): EchoCell {
  const name = payload === 'json' ? `json${compress ? '-deflate' : ''}` : payload === 'text' ? 'text' : 'bin';
  return {
    type: 'echo',
    id: `${name}-${sizeLabel(size).replace(' ', '')}-c${conns}${writePerMessage ? '-1w' : ''}`,
    payload,
    size,
    conns,
    inflight: inflightFor(size),
    compress,
    writeBatching: !writePerMessage && size <= WRITE_BATCH_MAX,
  };
}

export function cellLabel(cell: Cell): string {
  switch (cell.type) {
    case 'echo': {
      const what =
        cell.payload === 'binary' ? 'binary' : cell.payload === 'text' ? 'text' : `JSON text${cell.compress ? ', deflate' : ''}`;
      const writes = !cell.writeBatching && cell.size <= WRITE_BATCH_MAX ? ', a write per message' : '';
      return `${sizeLabel(cell.size)} ${what} × ${cell.conns.toLocaleString('en-US')} conn${cell.conns === 1 ? '' : 's'}${writes}`;
    }
    case 'handshake':
      return `handshakes (${cell.concurrency} at a time)`;
    case 'memory':
      return `idle memory at ${cell.conns.toLocaleString('en-US')} conns`;
  }
}

export const SIZES = [64, 1024, 64 * 1024, 1024 * 1024];
export const CONNS = [1, 100, 1000];

export function allCells(quick: boolean): Cell[] {
  const cells: Cell[] = [];
  for (const size of SIZES) {
    for (const conns of quick ? [100] : CONNS) cells.push(echoCell('binary', size, conns));
  }
  // The regime where every read brings one frame (and the load generator is the limit for the fastest
  // servers), kept for comparison with the runs before the load generator batched its writes.
  if (!quick) for (const size of [64, 1024]) cells.push(echoCell('binary', size, 100, { writePerMessage: true }));
  if (!quick) cells.push(echoCell('text', 1024, 100));
  cells.push(echoCell('json', 1024, 100, { compress: true }));
  if (!quick) cells.push(echoCell('json', 64 * 1024, 100, { compress: true }));
  cells.push({ type: 'handshake', id: 'handshake', concurrency: 16 });
  cells.push({ type: 'memory', id: 'memory', conns: 10_000 });
  return cells;
}
