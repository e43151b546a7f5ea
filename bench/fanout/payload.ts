// The payload templates of the fan-out benchmark, written to files that the servers (Node and Go) and
// the subscriber load generator all read: one source for what is published and what is checked.
import * as fs from 'fs';
import * as path from 'path';

/** binary: random bytes; json: JSON-like text (compresses 3–5× with deflate); alnum: letters and digits (safe inside a JSON string, for socket.io). */
export type PayloadKind = 'binary' | 'json' | 'alnum';

export interface PayloadSpec {
  file: string;
  /** The WebSocket message type. */
  type: 'binary' | 'text';
  /** Where the publisher writes its sequence number and timestamp (16 bytes binary, 32 hex digits text). */
  stampAt: number;
  size: number;
}

/** A small deterministic generator (so every run publishes the same bytes). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
}

function jsonLike(size: number, next: () => number): Buffer {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
  const events = ['login', 'logout', 'click', 'view', 'purchase', 'scroll'];
  let s = `{"id":"${'0'.repeat(32)}","type":"batch","items":[`;
  for (let i = 0; s.length < size; i++) {
    s += `${i > 0 ? ',' : ''}{"user":"${names[next() % names.length]}","event":"${events[next() % events.length]}","n":${next() % 100000},"ok":${next() % 2 === 0}}`;
  }
  // Cut back to the last whole record and pad to exactly `size` bytes in a final string field.
  const tail = '],"pad":""}';
  let body = s.slice(0, size - tail.length);
  body = body.slice(0, body.lastIndexOf('}') + 1);
  return Buffer.from(`${body}],"pad":"${'x'.repeat(size - body.length - tail.length)}"}`, 'latin1');
}

/** Writes (once) and describes the template of `kind` and `size` in `dir`. */
export function payloadFile(dir: string, kind: PayloadKind, size: number): PayloadSpec {
  const file = path.join(dir, `payload-${kind}-${size}.bin`);
  const next = lcg(42 + size);
  let data: Buffer;
  if (kind === 'binary') {
    data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = next() & 0xff;
  } else if (kind === 'json') {
    data = jsonLike(size, next);
  } else {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = alphabet.charCodeAt(next() % alphabet.length);
  }
  if (data.length !== size) throw new Error(`payload ${kind} ${size}: built ${data.length} bytes`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, data);
  return { file, type: kind === 'binary' ? 'binary' : 'text', stampAt: kind === 'json' ? '{"id":"'.length : 0, size };
}
