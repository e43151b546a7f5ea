// Pure parts of the fan-out: PreparedMessage framing and the hub's input checks (no sockets needed).
import { FrameParser, Hub, MAX_TOPIC_LENGTH, PreparedMessage, DEFAULT_BACKPRESSURE_LIMIT, type Frame, type WebSocket } from '../../src';

function parseOne(bytes: Buffer): Frame {
  const frames: Frame[] = [];
  const parser = new FrameParser({ requireMask: false }, (f) => {
    frames.push({ ...f, payload: Buffer.from(f.payload) });
    return true;
  });
  parser.push(bytes);
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

describe('PreparedMessage', () => {
  test.each([0, 1, 125, 126, 65535, 65536, 70000])('frames a %i-byte payload once, with the shortest length encoding', (n) => {
    const data = Buffer.alloc(n, 0x61);
    const prepared = new PreparedMessage(data);
    expect(prepared.type).toBe('binary');
    const internal = prepared as unknown as { frame: Buffer };
    const frame = parseOne(internal.frame);
    expect(frame.opcode).toBe(0x2);
    expect(frame.fin).toBe(true);
    expect(Buffer.compare(frame.payload, data)).toBe(0);
    expect(internal.frame.length).toBe(n + (n < 126 ? 2 : n < 0x10000 ? 4 : 10));
    // The same buffer every time it is asked for.
    expect(internal.frame).toBe(internal.frame);
  });

  test('types: a string is text, bytes binary, unless said otherwise', () => {
    expect(new PreparedMessage('é').type).toBe('text');
    expect(new PreparedMessage('é').data).toEqual(Buffer.from('é'));
    expect(new PreparedMessage('abc', 'binary').type).toBe('binary');
    expect(new PreparedMessage(Buffer.from('abc'), 'text').type).toBe('text');
    expect(new PreparedMessage(new Uint8Array([1, 2])).data).toEqual(Buffer.from([1, 2]));
  });

  test('the payload is copied: changing the source afterwards changes nothing', () => {
    const source = Buffer.from('original');
    const prepared = new PreparedMessage(source);
    source.fill(0);
    expect(prepared.data.toString()).toBe('original');
  });

  test('bad data, a bad type and text that is not UTF-8 are TypeErrors', () => {
    expect(() => new PreparedMessage(42 as unknown as string)).toThrow(TypeError);
    expect(() => new PreparedMessage(null as unknown as string)).toThrow(TypeError);
    expect(() => new PreparedMessage('x', 'json' as 'text')).toThrow(TypeError);
    expect(() => new PreparedMessage(Buffer.from([0xc3, 0x28]), 'text')).toThrow(/UTF-8/);
    // The same bytes are a fine binary message.
    expect(new PreparedMessage(Buffer.from([0xc3, 0x28])).type).toBe('binary');
  });
});

describe('Hub: input checks', () => {
  const notASocket = {} as WebSocket;

  test('options', () => {
    expect(() => new Hub({ backpressureLimit: -1 })).toThrow(RangeError);
    expect(() => new Hub({ backpressureLimit: Number.NaN })).toThrow(RangeError);
    expect(() => new Hub({ onBackpressureLimit: 'wait' as 'drop' })).toThrow(TypeError);
    expect(() => new Hub({ broker: {} as never })).toThrow(TypeError);
    expect(() => new Hub(null as never)).toThrow(TypeError);
    expect(DEFAULT_BACKPRESSURE_LIMIT).toBe(1024 * 1024);
  });

  test('topics: a non-empty string of at most MAX_TOPIC_LENGTH UTF-8 bytes', async () => {
    const hub = new Hub();
    const badTopics = ['', 42, null, undefined, {}, 'x'.repeat(MAX_TOPIC_LENGTH + 1), 'é'.repeat(MAX_TOPIC_LENGTH / 2 + 1), 'a\uD800', '\uDC00b', 'a\uDC00\uD800'];
    for (const bad of badTopics) {
      expect(() => hub.publish(bad as string, 'm')).toThrow(TypeError);
      expect(() => hub.subscriberCount(bad as string)).toThrow(TypeError);
    }
    expect(hub.publish('x'.repeat(MAX_TOPIC_LENGTH), 'm')).toBe(0);
    expect(hub.publish('é'.repeat(MAX_TOPIC_LENGTH / 2), 'm')).toBe(0);
    expect(hub.publish('emoji \uD83D\uDE00 ok', 'm')).toBe(0);
    await hub.close();
  });

  test('sockets that are not wsflow WebSockets, and bad data, are TypeErrors', async () => {
    const hub = new Hub();
    expect(() => hub.subscribe(notASocket, 't')).toThrow(TypeError);
    expect(() => hub.unsubscribe(notASocket, 't')).toThrow(TypeError);
    expect(() => hub.isSubscribed(notASocket, 't')).toThrow(TypeError);
    expect(() => hub.topicsOf(notASocket)).toThrow(TypeError);
    expect(() => hub.broadcast([notASocket], 'm')).toThrow(TypeError);
    expect(() => hub.broadcast(42 as never, 'm')).toThrow(TypeError);
    expect(() => hub.publish('t', 'm', { exclude: notASocket })).toThrow(TypeError);
    expect(() => hub.publish('t', 42 as never)).toThrow(TypeError);
    expect(() => hub.publish('t', { data: 'x' } as never)).toThrow(TypeError);
    expect(() => hub.publish('t', 'm', { type: 'xml' as 'text' })).toThrow(TypeError);
    expect(() => hub.publish('t', Buffer.from([0xff]), { type: 'text' })).toThrow(TypeError);
    expect(hub.stats.published).toBe(0);
    await hub.close();
    expect(() => hub.publish('t', 'm')).toThrow(Error);
  });
});
