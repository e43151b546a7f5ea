// The deferred failure after a protocol error (issue 16) is bounded: the messages received before the bad
// frame wait for the application at most a short grace (250 ms), then the connection fails anyway.
// A peer cannot keep a connection it broke open by sending messages nobody reads, nothing after the bad frame
// is parsed or kept, and the grace timer never outlives the connection.
import { CloseError, WebSocket, WebSocketError } from '../../src';
import { OP, RawPeer } from '../conformance/driver';
import { closed, socketPair } from '../helpers/pair';
import { activeResources, expectNoLeakedResources, within } from '../fuzz/harness';

let baseline: Record<string, number>;
const open: Array<{ ws: WebSocket; peer: RawPeer }> = [];

beforeAll(() => {
  baseline = activeResources();
});
afterEach(async () => {
  for (const { ws, peer } of open.splice(0)) {
    peer.destroy();
    ws.terminate();
  }
});
afterAll(async () => {
  await expectNoLeakedResources(baseline);
});

async function serverWithRawClient(): Promise<{ ws: WebSocket; peer: RawPeer }> {
  const { server, client } = await socketPair();
  const peer = new RawPeer(client, true, Buffer.alloc(0));
  const ws = new WebSocket(server, Buffer.alloc(0), { isServer: true });
  open.push({ ws, peer });
  return { ws, peer };
}

test('an application that never reads still gets the connection failed (1002) within the grace', async () => {
  const { ws, peer } = await serverWithRawClient();
  const done = closed(ws);
  await peer.send([peer.text('unread 1'), peer.text('unread 2'), peer.frame(0x3), peer.ping()]);
  // Without the bound this never comes: nobody reads the two messages.
  await peer.expectFailure(1002);
  peer.expectInboxEmpty();
  peer.end();
  expect((await within(done, 5000, "wsflow's close")).code).toBe(1006);
  // What was received before the bad frame can still be read; then the failure is reported.
  expect((await ws.readMessage()).data.toString()).toBe('unread 1');
  expect((await ws.readMessage()).data.toString()).toBe('unread 2');
  await expect(ws.readMessage()).rejects.toBeInstanceOf(WebSocketError);
});

test('an application that stops reading after the first message is not waited for either', async () => {
  const { ws, peer } = await serverWithRawClient();
  void ws.readMessage().then((m) => ws.writeMessage(m.data, m.type));
  await peer.send([peer.text('read'), peer.text('never read'), peer.cont('nothing to continue')]);
  await peer.expectEcho(OP.TEXT, 'read');
  await peer.expectFailure(1002);
  peer.expectInboxEmpty();
});

test('nothing after the bad frame is parsed or kept while the failure waits', async () => {
  const { ws, peer } = await serverWithRawClient();
  await peer.send([peer.text('before'), peer.frame(0xc)]);
  // The peer keeps sending valid messages and pings during the grace: none is answered or queued.
  const after = Array.from({ length: 200 }, (_, i) => [peer.text(`after ${i}`), peer.ping(`p${i}`)]).flat();
  await peer.send(after);
  await peer.expectFailure(1002);
  peer.expectInboxEmpty();
  expect((await ws.readMessage()).data.toString()).toBe('before');
  const err = await ws.readMessage().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WebSocketError);
  expect((err as WebSocketError).closeCode).toBe(1002);
});

test('a peer that hangs up during the grace: the connection closes at once, readers learn the protocol error, no timer is left', async () => {
  const { ws, peer } = await serverWithRawClient();
  const done = closed(ws);
  const timersBefore = activeResources().Timeout ?? 0;
  await peer.send([peer.text('unread'), peer.frame(0x4)]);
  peer.destroy();
  const info = await within(done, 5000, "wsflow's close");
  expect(info.code).toBe(1006);
  expect(activeResources().Timeout ?? 0).toBeLessThanOrEqual(timersBefore);
  expect((await ws.readMessage()).data.toString()).toBe('unread');
  const err = await ws.readMessage().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WebSocketError);
  expect(err).not.toBeInstanceOf(CloseError);
});
