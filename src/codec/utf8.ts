import { isUtf8 } from 'buffer';

/** True when `data` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
export function isValidUtf8(data: Uint8Array): boolean {
  return data.length === 0 || isUtf8(data);
}

/**
 * Validates a text message fragment by fragment, so an invalid message fails at its first bad
 * fragment instead of after it was all buffered (RFC 6455 §8.1 allows failing fast).
 * Whole runs of complete sequences go to Node's `isUtf8`; only a sequence split across fragments
 * walks the byte-level state machine below.
 */
export class Utf8Validator {
  // Continuation bytes still expected, and the range the next one must fall in
  // (narrower than 0x80–0xBF after E0, ED, F0 and F4, to reject overlongs, surrogates and > U+10FFFF).
  private need = 0;
  private lower = 0x80;
  private upper = 0xbf;

  /** Feeds the next fragment; false as soon as the bytes so far cannot be UTF-8. */
  write(data: Uint8Array): boolean {
    let start = 0;
    const length = data.length;
    while (this.need > 0 && start < length) {
      if (!this.step(data[start++])) return false;
    }
    if (start === length) return true;
    const tail = incompleteTailStart(data, start);
    if (tail > start && !isUtf8(start === 0 && tail === length ? data : data.subarray(start, tail))) return false;
    for (let i = tail; i < length; i++) {
      if (!this.step(data[i])) return false;
    }
    return true;
  }

  /** True when the message may end here: no sequence is left unfinished. */
  end(): boolean {
    const complete = this.need === 0;
    this.reset();
    return complete;
  }

  /** Forgets any partial sequence, to start a new message. */
  reset(): void {
    this.need = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  private step(byte: number): boolean {
    if (this.need > 0) {
      if (byte < this.lower || byte > this.upper) return false;
      this.need--;
      this.lower = 0x80;
      this.upper = 0xbf;
      return true;
    }
    if (byte < 0x80) return true;
    if (byte >= 0xc2 && byte <= 0xdf) {
      this.need = 1;
    } else if (byte === 0xe0) {
      this.need = 2;
      this.lower = 0xa0;
    } else if (byte === 0xed) {
      this.need = 2;
      this.upper = 0x9f;
    } else if (byte >= 0xe1 && byte <= 0xef) {
      this.need = 2;
    } else if (byte === 0xf0) {
      this.need = 3;
      this.lower = 0x90;
    } else if (byte >= 0xf1 && byte <= 0xf3) {
      this.need = 3;
    } else if (byte === 0xf4) {
      this.need = 3;
      this.upper = 0x8f;
    } else {
      return false;
    }
    return true;
  }
}

/**
 * Index where a multi-byte sequence that is cut off by the end of `data` begins, or `data.length`
 * when the data ends on a sequence boundary. Only the last three bytes can belong to such a sequence.
 */
function incompleteTailStart(data: Uint8Array, from: number): number {
  const length = data.length;
  const stop = Math.max(from, length - 3);
  for (let i = length - 1; i >= stop; i--) {
    const byte = data[i];
    if ((byte & 0xc0) !== 0x80) {
      // A lead byte (or ASCII): does its sequence fit in what is left?
      const size = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      return i + size > length ? i : length;
    }
  }
  return length;
}
