// wsflow's server against Node's own WebSocket client (undici), which Node 20 only exposes with
// --experimental-websocket: run in a child process with that flag. The WHATWG API has no fragments
// and no pings of its own; wsflow's pings, fragments and closes are still checked.
import * as path from 'path';
import { WHOLE_FIXTURES } from './fixtures';
import {
  describePeer,
  expectPeerClientRun,
  killAllChildren,
  PEERS_DIR,
  peers,
  run,
  startEchoServer,
  type ClientReport,
} from './helpers';

jest.setTimeout(90_000);

describePeer('Node WebSocket (undici, --experimental-websocket)', peers.nodeWebSocket(), () => {
  afterAll(killAllChildren);

  describe.each([false, true])('as a client of a wsflow server (server compression %s)', (compression) => {
    test('echo of text/binary/empty/1 MiB, server ping, fragments from wsflow, close codes both ways', async () => {
      const server = await startEchoServer({ subprotocols: ['chat.v2'], compression });
      try {
        const out = await run(
          process.execPath,
          ['--experimental-websocket', '--no-warnings', path.join(PEERS_DIR, 'node_client.mjs'), server.url],
          60_000,
        );
        const report = JSON.parse(out) as ClientReport & { typeofWebSocket: string };
        expect(report.typeofWebSocket).toBe('function');
        const conn = await server.conn(0);
        // Whether undici offers permessage-deflate depends on the Node version: whatever was agreed
        // must work, and wsflow and the client must agree on it.
        const negotiated = conn.extensions !== '';
        expect(report.conn1.extensions ?? '').toBe(conn.extensions);
        await expectPeerClientRun(report, server, {
          compression: negotiated,
          fixtures: WHOLE_FIXTURES,
          clientPing: false,
          protocol: 'chat.v2',
          // undici inflates what it receives but sends uncompressed (RFC 7692 allows it).
          peerCompresses: false,
        });
        expect(report.conn1.close).toMatchObject({ code: 4001, wasClean: true });
        expect(report.conn2.close).toMatchObject({ code: 4002, reason: 'srv', wasClean: true });
      } finally {
        await server.close();
      }
    });
  });
});
