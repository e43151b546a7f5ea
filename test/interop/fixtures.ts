// The interop scenario's messages, identical to those of peers/fixtures.py, peers/fixtures.go and
// peers/node_client.mjs (change them together).
import { createHash } from 'crypto';
import type { MessageType } from '../../src';

function pattern(n: number, mul: number, mod: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * mul) % mod;
  return b;
}

export const UTF8 = 'h\u00e9llo w\u00f6rld \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \u{1F600}\u{1F389}\u{1F44D}\u{1F3FD} \u2713';
export const FRAG_TEXT = 'fragmented: ' + '\u00e9\u{1F600}\u00df\u20ac'.repeat(2000);
export const FRAG_BINARY = pattern(300000, 13, 256);

export interface Fixture {
  name: string;
  type: MessageType;
  data: Buffer;
  /** Sent in frames of this many bytes (splitting UTF-8 sequences where the peer allows), or whole. */
  fragment?: number;
}

export const FIXTURES: readonly Fixture[] = [
  { name: 'utf8', type: 'text', data: Buffer.from(UTF8, 'utf8') },
  { name: 'binary', type: 'binary', data: pattern(256, 1, 256) },
  { name: 'empty-text', type: 'text', data: Buffer.alloc(0) },
  { name: 'empty-binary', type: 'binary', data: Buffer.alloc(0) },
  { name: '1MiB-binary', type: 'binary', data: pattern(1 << 20, 7, 251) },
  { name: '1MiB-text', type: 'text', data: Buffer.from('abcdefghijklmnopqrstuvwxyz012345'.repeat(32768), 'utf8') },
  { name: 'frag-text', type: 'text', data: Buffer.from(FRAG_TEXT, 'utf8'), fragment: 4099 },
  { name: 'frag-binary', type: 'binary', data: FRAG_BINARY, fragment: 100000 },
];

/** The fixtures the Node (undici) client sends: its API has no fragments. */
export const WHOLE_FIXTURES = FIXTURES.filter((f) => f.fragment === undefined);

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What a receiver records of a message: compared instead of whole megabytes in failure output. */
export interface Summary {
  type: MessageType;
  len: number;
  sha: string;
}

export function summary(type: MessageType, data: Uint8Array): Summary {
  return { type, len: data.length, sha: sha256(data) };
}

export function expectedSummaries(fixtures: readonly Fixture[] = FIXTURES): Summary[] {
  return fixtures.map((f) => summary(f.type, f.data));
}

/** Byte chunks of `data` of `size` bytes each (the last shorter). */
export function chunksOf(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}
