import { decodeEnvelope, encodeEnvelope, ENVELOPE_VERSION } from '../../src/brokers/envelope';

const origin = Buffer.from('0123456789abcdef', 'hex');

describe('broker envelope', () => {
  it('round-trips text and binary, compress flag, UTF-8 topics', () => {
    for (const [type, compress, topic, payload] of [
      ['text', false, 'room:1', Buffer.from('héllo')],
      ['binary', true, 'ünïcode/topic', Buffer.from([0, 255, 1, 2])],
      ['binary', false, 't', Buffer.alloc(0)],
    ] as const) {
      const env = decodeEnvelope(encodeEnvelope(origin, type, compress, topic, payload));
      expect(typeof env).toBe('object');
      if (typeof env === 'string') return;
      expect(env.origin.equals(origin)).toBe(true);
      expect(env.type).toBe(type);
      expect(env.compress).toBe(compress);
      expect(env.topic).toBe(topic);
      expect(env.payload.equals(payload)).toBe(true);
    }
  });

  it('says why anything else is refused, never throws', () => {
    const good = encodeEnvelope(origin, 'text', false, 'a', Buffer.from('x'));
    expect(decodeEnvelope(Buffer.from('{"json":true}'))).toBe('foreign');
    expect(decodeEnvelope(Buffer.alloc(0))).toBe('foreign');
    const v2 = Buffer.from(good);
    v2[2] = ENVELOPE_VERSION + 1;
    expect(decodeEnvelope(v2)).toBe('version');
    expect(decodeEnvelope(good.subarray(0, 10))).toBe('malformed');
    const flags = Buffer.from(good);
    flags[3] = 0x80;
    expect(decodeEnvelope(flags)).toBe('malformed');
    const long = Buffer.from(good);
    long.writeUInt16BE(500, 12);
    expect(decodeEnvelope(long)).toBe('malformed');
    const badTopic = encodeEnvelope(origin, 'binary', false, 'ab', Buffer.alloc(1));
    badTopic[14] = 0xff;
    expect(decodeEnvelope(badTopic)).toBe('malformed');
    expect(decodeEnvelope(encodeEnvelope(origin, 'text', false, 'a', Buffer.from([0xc3])))).toBe('malformed');
    expect(decodeEnvelope(encodeEnvelope(origin, 'binary', false, 'a', Buffer.from([0xc3])))).not.toBe('malformed');
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(good);
      junk[Math.floor(Math.random() * junk.length)] = Math.floor(Math.random() * 256);
      expect(() => decodeEnvelope(junk)).not.toThrow();
    }
  });

  it('refuses a wrong-sized origin at encode', () => {
    expect(() => encodeEnvelope(Buffer.alloc(4), 'text', false, 'a', Buffer.alloc(0))).toThrow(RangeError);
  });
});
