// Small pieces of the stream adapters: close codes chosen for errors, UTF-8 truncation, the browser's
// close-argument rules, and text-mode chunking over an in-process pair.
import { Readable } from 'stream';
import { pipeline } from 'stream/promises';
import { CloseError, WebSocketError } from '../../src';
import { closeCodeFor } from '../../src/codec/close-payload';
import { createByteDuplex, createMessageDuplex } from '../../src/streams/duplex';
import { checkCloseInfo, normalizeWebSocketUrl, WebSocketStreamError } from '../../src/streams/websocket-stream';
import { wsPair } from '../helpers/pair';

describe('closeCodeFor', () => {
  test('a WebSocketError keeps its code, anything else is 1011', () => {
    expect(closeCodeFor(new WebSocketError(1008, 'policy'))).toEqual({ code: 1008, reason: 'policy' });
    expect(closeCodeFor(new Error('boom'))).toEqual({ code: 1011, reason: 'boom' });
    // 1006 cannot be sent: 1011 instead.
    expect(closeCodeFor(new WebSocketError(1006, 'lost')).code).toBe(1011);
  });

  test('the reason is cut to 123 bytes on a character boundary', () => {
    const { reason } = closeCodeFor(new Error('é'.repeat(100)));
    expect(Buffer.byteLength(reason)).toBe(122);
    expect(closeCodeFor(new Error('a' + '😀'.repeat(40))).reason).toBe('a' + '😀'.repeat(30));
  });
});

describe('checkCloseInfo (browser rules)', () => {
  test.each([1000, 3000, 4999])('accepts %i', (code) => expect(checkCloseInfo({ closeCode: code }).code).toBe(code));
  test.each([999, 1001, 1011, 2999, 5000, 1000.5])('rejects %p with InvalidAccessError', (code) => {
    expect(() => checkCloseInfo({ closeCode: code })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
  });
  test('reason limits and defaults', () => {
    expect(() => checkCloseInfo({ reason: 'x'.repeat(124) })).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    expect(checkCloseInfo({ reason: 'x'.repeat(123) }).code).toBe(1000);
    expect(checkCloseInfo({})).toEqual({ code: undefined, reason: '' });
  });
  test('WebSocketStreamError is a DOMException named WebSocketError', () => {
    const err = new WebSocketStreamError('msg', { closeCode: 4000, reason: 'r' });
    expect(err).toBeInstanceOf(DOMException);
    expect([err.name, err.closeCode, err.reason, err.message]).toEqual(['WebSocketError', 4000, 'r', 'msg']);
    expect(new WebSocketStreamError().closeCode).toBeNull();
    expect(() => new WebSocketStreamError('', { closeCode: 1006 })).toThrow(expect.objectContaining({ name: 'InvalidAccessError' }));
  });
  test('normalizeWebSocketUrl', () => {
    expect(normalizeWebSocketUrl('http://a/b')).toBe('ws://a/b');
    expect(normalizeWebSocketUrl('https://a')).toBe('wss://a/');
    expect(() => normalizeWebSocketUrl('not a url')).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
  });
});

describe('duplex adapters over an in-process pair', () => {
  test('a text byte Duplex refuses a stream ending inside a character (1007)', async () => {
    const { server, client } = await wsPair();
    const closed = new Promise<{ code: number }>((r) => server.once('close', r));
    void (async () => {
      for await (const _ of server) void _;
    })().catch(() => undefined);
    await expect(pipeline(Readable.from([Buffer.from([0x61, 0xe2, 0x82])]), createByteDuplex(client, { type: 'text' }))).rejects.toThrow(
      /middle of a UTF-8 character/,
    );
    expect((await closed).code).toBe(1007);
  });

  test('a message Duplex rejects a chunk that is not a message', async () => {
    const { server, client } = await wsPair();
    const d = createMessageDuplex(client);
    const err = await new Promise<Error>((resolve) => {
      d.once('error', resolve);
      d.write(42);
    });
    expect(err).toBeInstanceOf(TypeError);
    client.terminate();
    server.terminate();
  });

  test('closeOnFinish: false leaves the connection open', async () => {
    const { server, client } = await wsPair();
    await pipeline(Readable.from(['a']), createMessageDuplex(client, { closeOnFinish: false }));
    expect(client.readyState).toBe('open');
    expect((await server.readMessage()).data.toString()).toBe('a');
    await client.close();
    await expect(server.readMessage()).rejects.toBeInstanceOf(CloseError);
  });
});
