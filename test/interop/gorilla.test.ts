// wsflow against gorilla/websocket (Debian golang-github-gorilla-websocket-dev, GOPATH mode), both roles.
// gorilla fragments through NextWriter (a frame per 4 KiB write buffer, cutting UTF-8 sequences) and
// compresses with no context takeover only.
import {
  buildGo,
  closeEventsOf,
  countingProxy,
  describePeer,
  expectPeerClientRun,
  expectWsflowClientRun,
  killAllChildren,
  Peer,
  peers,
  run,
  runWsflowClient,
  startEchoServer,
  type ClientReport,
} from './helpers';

jest.setTimeout(180_000);

describePeer('gorilla/websocket', peers.gorilla(), () => {
  let client = '';
  let server = '';
  beforeAll(async () => {
    // Cached by source hash under node_modules/.cache/wsflow-interop: only the first run compiles.
    client = await buildGo('gorilla_client.go');
    server = await buildGo('gorilla_server.go');
  }, 170_000);
  afterAll(killAllChildren);

  describe.each([false, true])('as a client of a wsflow server (compression %s)', (compression) => {
    test('echo of text/binary/empty/1 MiB/NextWriter-fragmented, pings both ways, close codes both ways', async () => {
      const wss = await startEchoServer({ subprotocols: ['chat.v2'], compression });
      try {
        const report = JSON.parse(await run(client, [wss.url, ...(compression ? ['--compression'] : [])], 60_000)) as ClientReport;
        await expectPeerClientRun(report, wss, { compression, clientPing: true, protocol: 'chat.v2' });
        // gorilla's CloseError carries the reason of the Close it got back: wsflow echoes only the code.
        expect(report.conn1.close).toEqual({ code: 4001, reason: '' });
        // RFC 6455 §7.1.1: the server closes TCP first.
        expect(report.conn1.tcpClosedByServer).toBe(true);
      } finally {
        await wss.close();
      }
    });
  });

  describe.each([false, true])('as a server for a wsflow client (compression %s)', (compression) => {
    test('echo (NextWriter-fragmented), pings both ways, close codes both ways', async () => {
      const peer = new Peer(server, []);
      const proxy = await countingProxy(Number((await peer.waitForLine(/^LISTENING \d+$/)).split(' ')[1]));
      try {
        const result = await runWsflowClient(`ws://127.0.0.1:${proxy.port}/`, { compression });
        await expectWsflowClientRun(result, {
          compression,
          protocol: 'chat.v2',
          proxy,
          closeEvents: () => closeEventsOf(peer, 2),
        });
        if (compression) {
          // gorilla only does no context takeover, in both directions.
          expect(result.extensions).toMatch(/server_no_context_takeover/);
          expect(result.extensions).toMatch(/client_no_context_takeover/);
        }
      } finally {
        await proxy.close();
        await peer.kill();
      }
    });
  });
});
