/**
 * The wire format of a hub message between processes: a compact binary envelope, no JSON or
 * msgpack around the payload, so a binary message crosses the broker without being re-encoded.
 *
 *   offset  size  field
 *   0       2     magic "wF" (0x77 0x46): tells our envelopes from anything else on the channel
 *   2       1     version (1)
 *   3       1     flags: bit 0 binary (else text), bit 1 compress; the other bits must be 0
 *   4       8     origin: the publishing hub's random id, so a hub drops its own messages
 *   12      2     topic length in bytes, big-endian
 *   14      n     topic, UTF-8
 *   14+n    …     payload, as published
 */

import { isValidUtf8 } from '../codec/utf8';

/** The envelope version this code writes and reads. */
export const ENVELOPE_VERSION = 1;
/** Bytes in an origin id. */
export const ORIGIN_ID_LENGTH = 8;

const MAGIC_0 = 0x77;
const MAGIC_1 = 0x46;
const HEADER_LENGTH = 14;
const FLAG_BINARY = 0x01;
const FLAG_COMPRESS = 0x02;
const KNOWN_FLAGS = FLAG_BINARY | FLAG_COMPRESS;

/** A message as it crosses the broker. */
export interface Envelope {
  /** The publishing hub's id ({@link ORIGIN_ID_LENGTH} bytes). */
  origin: Buffer;
  type: 'text' | 'binary';
  compress: boolean;
  topic: string;
  payload: Buffer;
}

/** Why an envelope was refused: counted by the hub, never thrown. */
export type EnvelopeRejection = 'foreign' | 'version' | 'malformed';

/** Builds the envelope in one allocation. */
export function encodeEnvelope(
  origin: Buffer,
  type: 'text' | 'binary',
  compress: boolean,
  topic: string,
  payload: Uint8Array,
): Buffer {
  if (origin.length !== ORIGIN_ID_LENGTH) throw new RangeError(`An origin id is ${ORIGIN_ID_LENGTH} bytes`);
  const topicLength = Buffer.byteLength(topic, 'utf8');
  if (topicLength > 0xffff) throw new RangeError('Topic too long for an envelope');
  const out = Buffer.allocUnsafe(HEADER_LENGTH + topicLength + payload.length);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = ENVELOPE_VERSION;
  out[3] = (type === 'binary' ? FLAG_BINARY : 0) | (compress ? FLAG_COMPRESS : 0);
  origin.copy(out, 4);
  out.writeUInt16BE(topicLength, 12);
  out.write(topic, HEADER_LENGTH, topicLength, 'utf8');
  out.set(payload, HEADER_LENGTH + topicLength);
  return out;
}

/**
 * Reads an envelope, or says why it is not one of ours. The returned buffers are views of `data`
 * (no copy). Anything could have been published on the channel, so the topic, and a text payload,
 * must be valid UTF-8.
 */
export function decodeEnvelope(data: Buffer): Envelope | EnvelopeRejection {
  if (data.length < 3 || data[0] !== MAGIC_0 || data[1] !== MAGIC_1) return 'foreign';
  if (data[2] !== ENVELOPE_VERSION) return 'version';
  if (data.length < HEADER_LENGTH) return 'malformed';
  const flags = data[3];
  if ((flags & ~KNOWN_FLAGS) !== 0) return 'malformed';
  const topicLength = data.readUInt16BE(12);
  const payloadStart = HEADER_LENGTH + topicLength;
  if (payloadStart > data.length) return 'malformed';
  const topicBytes = data.subarray(HEADER_LENGTH, payloadStart);
  if (topicLength === 0 || !isValidUtf8(topicBytes)) return 'malformed';
  const binary = (flags & FLAG_BINARY) !== 0;
  const payload = data.subarray(payloadStart);
  // A text frame with invalid UTF-8 would make us the peer that breaks the protocol.
  if (!binary && !isValidUtf8(payload)) return 'malformed';
  return {
    origin: data.subarray(4, 4 + ORIGIN_ID_LENGTH),
    type: binary ? 'binary' : 'text',
    compress: (flags & FLAG_COMPRESS) !== 0,
    topic: topicBytes.toString('utf8'),
    payload,
  };
}
