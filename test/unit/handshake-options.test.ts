// What the handshake hands to the connection and to permessage-deflate, with both replaced by stubs:
// these tests pin the contract (head bytes, isServer, protocol, extensions, maxPayload, deflate, the
// pass-through options) independently of the real implementations.
import * as http from 'http';
import * as net from 'net';
import type * as stream from 'stream';

interface StubCall {
  socket: stream.Duplex;
  head: Buffer;
  options: Record<string, unknown>;
}

jest.mock('../../src/connection/websocket', () => {
  const { EventEmitter } = require('events') as typeof import('events');
  class WebSocket extends EventEmitter {
    static calls: StubCall[] = [];
    static throwNext: Error | null = null;
    constructor(socket: stream.Duplex, head: Buffer, options: Record<string, unknown>) {
      super();
      if (WebSocket.throwNext) {
        const e = WebSocket.throwNext;
        WebSocket.throwNext = null;
        throw e;
      }
      WebSocket.calls.push({ socket, head: Buffer.from(head), options });
      socket.destroy();
    }
  }
  return { WebSocket };
});

jest.mock('../../src/extensions/permessage-deflate', () => {
  class PerMessageDeflate {
    static instances: PerMessageDeflate[] = [];
    static throwNext: Error | null = null;
    closed = 0;
    constructor(
      readonly params: unknown,
      readonly options: unknown,
      readonly isServer: boolean,
    ) {
      if (PerMessageDeflate.throwNext) {
        const e = PerMessageDeflate.throwNext;
        PerMessageDeflate.throwNext = null;
        throw e;
      }
      PerMessageDeflate.instances.push(this);
    }
    close(): void {
      this.closed++;
    }
  }
  return {
    PerMessageDeflate,
    negotiateServer: jest.fn(),
    validatePerMessageDeflateOptions: jest.fn(),
    buildClientOffer: jest.fn(() => 'permessage-deflate; client_max_window_bits'),
    acceptClientResponse: jest.fn(),
  };
});

import { WebSocket } from '../../src/connection/websocket';
import { HandshakeError } from '../../src/errors';
import * as pmd from '../../src/extensions/permessage-deflate';
import { computeAcceptKey } from '../../src/handshake/accept';
import { connect } from '../../src/handshake/client';
import { Upgrader, type UpgraderOptions } from '../../src/handshake/server';

const Stub = WebSocket as unknown as { calls: StubCall[]; throwNext: Error | null };
const Deflate = pmd.PerMessageDeflate as unknown as {
  instances: { params: unknown; options: unknown; isServer: boolean; closed: number }[];
  throwNext: Error | null;
};
const negotiateServer = pmd.negotiateServer as jest.Mock;
const acceptClientResponse = pmd.acceptClientResponse as jest.Mock;

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const PARAMS = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
const closers: (() => Promise<void>)[] = [];

beforeEach(() => {
  Stub.calls = [];
  Stub.throwNext = null;
  Deflate.instances = [];
  Deflate.throwNext = null;
  negotiateServer.mockReset();
  acceptClientResponse.mockReset();
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function upgradeOnce(
  opts: UpgraderOptions,
  extraRequest = '',
  after = Buffer.alloc(0),
): Promise<{ outcome: unknown; wire: string }> {
  const upgrader = new Upgrader(opts);
  let outcome: Promise<unknown> = Promise.resolve();
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => {
    outcome = upgrader.upgrade(req, socket, head).then(
      (ws) => ws,
      (e: unknown) => e,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const wire = await new Promise<string>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString('latin1')));
    c.on('error', () => undefined);
    c.on('close', () => resolve(text));
    c.write(
      Buffer.concat([
        Buffer.from(
          `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extraRequest}\r\n`,
          'latin1',
        ),
        after,
      ]),
    );
  });
  return { outcome: await outcome, wire };
}

describe('Upgrader → WebSocket', () => {
  it('passes head, isServer and the defaults', async () => {
    const { wire } = await upgradeOnce({}, '', Buffer.from([0x81, 0x80, 9, 9, 9, 9]));
    expect(wire).toMatch(/^HTTP\/1\.1 101 /);
    expect(Stub.calls).toHaveLength(1);
    const call = Stub.calls[0] as StubCall;
    expect(call.head).toEqual(Buffer.from([0x81, 0x80, 9, 9, 9, 9]));
    expect(call.options).toMatchObject({ isServer: true, protocol: '', extensions: '', maxPayload: 64 * 1024 * 1024, deflate: null });
    expect(negotiateServer).not.toHaveBeenCalled();
  });

  it('passes maxPayload, keepAlive, closeTimeout, maxBufferedAmount and the protocol', async () => {
    await upgradeOnce(
      { maxPayload: 1000, keepAlive: { interval: 1000, timeout: 500 }, closeTimeout: 123, maxBufferedAmount: 4096, subprotocols: ['p'] },
      'Sec-WebSocket-Protocol: p\r\n',
    );
    expect((Stub.calls[0] as StubCall).options).toMatchObject({
      isServer: true,
      protocol: 'p',
      maxPayload: 1000,
      keepAlive: { interval: 1000, timeout: 500 },
      closeTimeout: 123,
      maxBufferedAmount: 4096,
    });
  });

  it('negotiates compression through negotiateServer and builds a server PerMessageDeflate', async () => {
    negotiateServer.mockReturnValue({ params: PARAMS, response: 'permessage-deflate; server_no_context_takeover' });
    const { wire } = await upgradeOnce({ compression: { level: 3 } }, 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n');
    expect(negotiateServer).toHaveBeenCalledWith('permessage-deflate; client_max_window_bits', { level: 3 });
    expect(wire).toContain('\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n');
    expect(Deflate.instances).toHaveLength(1);
    expect(Deflate.instances[0]).toMatchObject({ params: PARAMS, options: { level: 3 }, isServer: true });
    const options = (Stub.calls[0] as StubCall).options;
    expect(options['deflate']).toBe(Deflate.instances[0]);
    expect(options['extensions']).toBe('permessage-deflate; server_no_context_takeover');
  });

  it('compression: true means the default options; no agreement means no header', async () => {
    negotiateServer.mockReturnValue(null);
    const { wire } = await upgradeOnce({ compression: true });
    expect(negotiateServer).toHaveBeenCalledWith(undefined, {});
    expect(wire).not.toContain('Sec-WebSocket-Extensions');
    expect((Stub.calls[0] as StubCall).options['deflate']).toBeNull();
  });

  it('500 when negotiation throws', async () => {
    negotiateServer.mockImplementation(() => {
      throw new Error('bug');
    });
    const { wire, outcome } = await upgradeOnce({ compression: true });
    expect(wire).toMatch(/^HTTP\/1\.1 500 /);
    expect((outcome as HandshakeError).status).toBe(500);
    expect(Stub.calls).toHaveLength(0);
  });

  it('500 when PerMessageDeflate cannot be built', async () => {
    negotiateServer.mockReturnValue({ params: PARAMS, response: 'permessage-deflate' });
    Deflate.throwNext = new Error('zlib');
    const { wire } = await upgradeOnce({ compression: true });
    expect(wire).toMatch(/^HTTP\/1\.1 500 /);
  });

  it('rejects, destroys the socket and frees zlib when the connection cannot be built', async () => {
    negotiateServer.mockReturnValue({ params: PARAMS, response: 'permessage-deflate' });
    Stub.throwNext = new Error('constructor failed');
    const { outcome, wire } = await upgradeOnce({ compression: true });
    expect(wire).toMatch(/^HTTP\/1\.1 101 /); // already sent: the connection is dropped instead
    expect((outcome as Error).message).toBe('constructor failed');
    expect(Deflate.instances[0]?.closed).toBe(1);
  });

  it('never negotiates (nor allocates zlib) when the handshake times out during checkOrigin', async () => {
    negotiateServer.mockReturnValue({ params: PARAMS, response: 'permessage-deflate' });
    const { outcome } = await upgradeOnce({ compression: true, handshakeTimeout: 1, checkOrigin: () => new Promise((r) => setTimeout(() => r(true), 20)) });
    expect((outcome as HandshakeError).message).toMatch(/timed out/);
    await new Promise((r) => setTimeout(r, 40)); // checkOrigin answers late
    expect(negotiateServer).not.toHaveBeenCalled();
    expect(Deflate.instances).toHaveLength(0);
  });
});

describe('connect() → WebSocket', () => {
  async function answering(extra: string): Promise<number> {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        const key = /sec-websocket-key: (\S+)/i.exec(text)?.[1] ?? '';
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n${extra}\r\n`,
        );
        socket.write(Buffer.from([0x81, 0x01, 0x41]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    return (server.address() as net.AddressInfo).port;
  }

  it('passes isServer: false, the defaults and the options', async () => {
    const port = await answering('Sec-WebSocket-Protocol: b\r\n');
    await connect(`ws://127.0.0.1:${port}/`, {
      protocols: ['a', 'b'],
      keepAlive: { interval: 1000, timeout: 100 },
      closeTimeout: 77,
      maxBufferedAmount: 99,
    });
    expect((Stub.calls[0] as StubCall).options).toMatchObject({
      isServer: false,
      protocol: 'b',
      extensions: '',
      maxPayload: 64 * 1024 * 1024,
      deflate: null,
      keepAlive: { interval: 1000, timeout: 100 },
      closeTimeout: 77,
      maxBufferedAmount: 99,
    });
  });

  it('accepts permessage-deflate through acceptClientResponse and builds a client PerMessageDeflate', async () => {
    acceptClientResponse.mockReturnValue(PARAMS);
    const port = await answering('Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n');
    await connect(`ws://127.0.0.1:${port}/`, { compression: { threshold: 10 }, maxPayload: 5 });
    expect(acceptClientResponse).toHaveBeenCalledWith('permessage-deflate; server_no_context_takeover', { threshold: 10 });
    expect(Deflate.instances[0]).toMatchObject({ params: PARAMS, options: { threshold: 10 }, isServer: false });
    expect((Stub.calls[0] as StubCall).options).toMatchObject({
      extensions: 'permessage-deflate; server_no_context_takeover',
      maxPayload: 5,
      deflate: Deflate.instances[0],
    });
  });

  it('propagates the HandshakeError of acceptClientResponse', async () => {
    acceptClientResponse.mockImplementation(() => {
      throw new HandshakeError(101, 'bad window bits');
    });
    const port = await answering('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99\r\n');
    await expect(connect(`ws://127.0.0.1:${port}/`, { compression: true })).rejects.toThrow('bad window bits');
    expect(Stub.calls).toHaveLength(0);
  });

  it('wraps any other error of acceptClientResponse in a HandshakeError(101)', async () => {
    acceptClientResponse.mockImplementation(() => {
      throw new Error('weird');
    });
    const port = await answering('Sec-WebSocket-Extensions: permessage-deflate\r\n');
    const err = (await connect(`ws://127.0.0.1:${port}/`, { compression: true }).catch((e: unknown) => e)) as HandshakeError;
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err.status).toBe(101);
  });

  it('frees zlib and rejects when the connection cannot be built', async () => {
    acceptClientResponse.mockReturnValue(PARAMS);
    Stub.throwNext = new Error('ctor');
    const port = await answering('Sec-WebSocket-Extensions: permessage-deflate\r\n');
    await expect(connect(`ws://127.0.0.1:${port}/`, { compression: true })).rejects.toThrow('ctor');
    expect(Deflate.instances[0]?.closed).toBe(1);
  });
});
