// wsflow against Python's `websockets` (Debian python3-websockets, run by /usr/bin/python3), both roles.
import * as path from 'path';
import {
  closeEventsOf,
  countingProxy,
  describePeer,
  expectPeerClientRun,
  expectWsflowClientRun,
  killAllChildren,
  Peer,
  PEERS_DIR,
  peers,
  PYTHON,
  run,
  runWsflowClient,
  startEchoServer,
  type ClientReport,
} from './helpers';

jest.setTimeout(90_000);

describePeer('python websockets', peers.python(), () => {
  afterAll(killAllChildren);

  describe.each([false, true])('as a client of a wsflow server (compression %s)', (compression) => {
    test('echo of text/binary/empty/1 MiB/fragmented, pings both ways, close codes both ways', async () => {
      const server = await startEchoServer({ subprotocols: ['chat.v2'], compression });
      try {
        const args = [path.join(PEERS_DIR, 'py_client.py'), server.url, ...(compression ? ['--compression'] : [])];
        const report = JSON.parse(await run(PYTHON, args, 60_000)) as ClientReport;
        await expectPeerClientRun(report, server, { compression, clientPing: true, protocol: 'chat.v2' });
        // websockets reports the reason of the Close frame it got back: wsflow echoes only the code.
        expect(report.conn1.close).toEqual({ code: 4001, reason: '' });
      } finally {
        await server.close();
      }
    });
  });

  // Window sizes and context takeover: the fixtures only compress well within the agreed window, and an
  // inflater set to the agreed window rejects data compressed with a bigger one.
  describe.each([
    ['client offers', { server_max_window_bits: 9, client_max_window_bits: 9 }, true],
    ['client offers', { server_no_context_takeover: true, client_no_context_takeover: true }, true],
    ['wsflow server requires', {}, { serverMaxWindowBits: 10, clientMaxWindowBits: 9, serverNoContextTakeover: true }],
  ] as const)('as a client of a wsflow server, deflate parameters: %s %j', (_what, deflate, serverCompression) => {
    test('the whole scenario, compressed within the agreed windows', async () => {
      const server = await startEchoServer({ subprotocols: ['chat.v2'], compression: serverCompression });
      try {
        const args = [path.join(PEERS_DIR, 'py_client.py'), server.url, '--compression', '--deflate', JSON.stringify(deflate)];
        const report = JSON.parse(await run(PYTHON, args, 60_000)) as ClientReport;
        await expectPeerClientRun(report, server, { compression: true, clientPing: true, protocol: 'chat.v2', maxRatio: 0.8 });
        const c = await server.conn(0);
        for (const [key, param] of Object.entries(deflate)) {
          expect(c.extensions).toContain(param === true ? key : `${key}=${String(param)}`);
        }
        if (serverCompression !== true) {
          expect(c.extensions).toMatch(/server_max_window_bits=10/);
          expect(c.extensions).toMatch(/client_max_window_bits=9/);
          expect(c.extensions).toMatch(/server_no_context_takeover/);
        }
      } finally {
        await server.close();
      }
    });
  });

  describe.each([
    { serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    // wsflow compresses with 8 bits (zlib only deflates raw with 9 or more: wsflow relies on zlib never
    // reaching back more than 250 bytes with 9), Python inflates with a strict 256-byte window.
    { clientMaxWindowBits: 8 },
  ])('as a server for a wsflow client, deflate parameters %j', (deflate) => {
    test('the whole scenario, compressed within the agreed windows', async () => {
      const peer = new Peer(PYTHON, [path.join(PEERS_DIR, 'py_server.py')]);
      const proxy = await countingProxy(Number((await peer.waitForLine(/^LISTENING \d+$/)).split(' ')[1]));
      try {
        const result = await runWsflowClient(`ws://127.0.0.1:${proxy.port}/`, { compression: deflate });
        await expectWsflowClientRun(result, {
          compression: true,
          protocol: 'chat.v2',
          proxy,
          maxRatio: 0.8,
          closeEvents: () => closeEventsOf(peer, 2),
        });
        if ('serverMaxWindowBits' in deflate) expect(result.extensions).toContain(`server_max_window_bits=${deflate.serverMaxWindowBits}`);
        if ('clientMaxWindowBits' in deflate) expect(result.extensions).toContain(`client_max_window_bits=${deflate.clientMaxWindowBits}`);
        if ('serverNoContextTakeover' in deflate) expect(result.extensions).toContain('server_no_context_takeover');
      } finally {
        await proxy.close();
        await peer.kill();
      }
    });
  });

  describe.each([false, true])('as a server for a wsflow client (compression %s)', (compression) => {
    test('echo (fragmented above 64 KiB), pings both ways, close codes both ways', async () => {
      const peer = new Peer(PYTHON, [path.join(PEERS_DIR, 'py_server.py')]);
      const proxy = await countingProxy(Number((await peer.waitForLine(/^LISTENING \d+$/)).split(' ')[1]));
      try {
        const result = await runWsflowClient(`ws://127.0.0.1:${proxy.port}/`, { compression });
        await expectWsflowClientRun(result, {
          compression,
          protocol: 'chat.v2',
          proxy,
          closeEvents: () => closeEventsOf(peer, 2),
        });
      } finally {
        await proxy.close();
        await peer.kill();
      }
    });
  });
});
