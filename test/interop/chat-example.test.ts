// The chat example as a user runs it: `examples/chat/main.ts --workers 2 --redis …` (node:cluster, two
// workers on one port, Redis between them), and two Chromium pages that land on different workers (each
// page shows the worker that serves it) and see each other's messages.
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { hasRedisServer, RedisServer, stopAllRedisServers } from '../helpers/redis-server';
import { CHROMIUM, CHROMIUM_ARGS, describePeer, Peer, peers, ROOT, withTimeout } from './helpers';

jest.setTimeout(120_000);


describePeer('chat example: two workers, Redis, two Chromium pages', peers.chromium() && hasRedisServer(), () => {
  let server: RedisServer | undefined;
  let chat: Peer | undefined;
  let browser: Browser | undefined;
  let url = '';

  beforeAll(async () => {
    const launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS], timeout: 60_000 });
    const starting = (async () => {
      server = await RedisServer.start();
      chat = new Peer(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'examples/chat/main.ts'), '--addr', '127.0.0.1:0', '--workers', '2', '--redis', server.url],
        { cwd: ROOT },
      );
      const line = await chat.waitForLine(/^wsflow chat on http:\/\/127\.0\.0\.1:\d+\/ \(2 workers/, 90_000);
      url = (/http:\/\/127\.0\.0\.1:\d+\//.exec(line) as RegExpExecArray)[0];
    })();
    const [launched, started] = await Promise.allSettled([withTimeout(launching, 70_000, 'Chromium launch'), starting]);
    if (launched.status === 'fulfilled') browser = launched.value;
    else void launching.then((b) => b.close()).catch(() => undefined);
    if (launched.status === 'rejected') throw launched.reason;
    if (started.status === 'rejected') throw started.reason;
  }, 110_000);

  afterAll(async () => {
    if (browser !== undefined) await withTimeout(browser.close(), 15_000, 'Chromium close').catch(() => undefined);
    if (chat !== undefined && chat.child.exitCode === null) {
      // SIGTERM: the primary stops its workers, which close their connections and exit.
      chat.child.kill('SIGTERM');
      await withTimeout(chat.exited, 15_000, 'chat example exit').catch(() => chat?.child.kill('SIGKILL'));
    }
    await stopAllRedisServers();
  }, 60_000);

  async function join(page: Page, name: string): Promise<string> {
    await page.fill('#room', 'it');
    await page.fill('#name', name);
    await page.click('#joinButton');
    await page.locator('#status').getByText(/^in #it on worker \d+$/).waitFor();
    return (await page.getAttribute('body', 'data-worker')) as string;
  }

  test('pages on different workers see each other’s messages', async () => {
    if (browser === undefined) throw new Error('Chromium did not start');
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    for (const p of [alice, bob]) {
      p.setDefaultTimeout(30_000);
      await p.goto(url);
    }
    const aliceWorker = await join(alice, 'alice');
    // The primary hands connections to the workers in turn: joining again (a new WebSocket) lands on the other.
    let bobWorker = await join(bob, 'bob');
    for (let i = 0; i < 10 && bobWorker === aliceWorker; i++) bobWorker = await join(bob, 'bob');
    expect(bobWorker).not.toBe(aliceWorker);

    await alice.fill('#text', 'hello from alice');
    await alice.click('#sendButton');
    await bob.locator('#log').getByText(`alice (worker ${aliceWorker}): hello from alice`).waitFor();
    await bob.fill('#text', 'hi alice, bob here');
    await bob.click('#sendButton');
    await alice.locator('#log').getByText(`bob (worker ${bobWorker}): hi alice, bob here`).waitFor();
    // Each sees its own message too, once.
    await alice.locator('#log').getByText(`alice (worker ${aliceWorker}): hello from alice`).waitFor();
    const aliceLog = await alice.locator('#log div').allTextContents();
    expect(aliceLog.filter((l) => l.endsWith('hello from alice'))).toHaveLength(1);
    expect(aliceLog.filter((l) => l.endsWith('hi alice, bob here'))).toHaveLength(1);
  });
});
