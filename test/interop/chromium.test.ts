// wsflow against a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
// First the example echo server (dist/examples/echo-server.js) and its page, clicked like a person would;
// then the test's own wsflow server with a same-origin blank page, for subprotocols, compression, pings,
// fragments and close codes.
import * as fs from 'fs';
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { summary, WHOLE_FIXTURES } from './fixtures';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  describePeer,
  exampleServerCommand,
  expectedEchoes,
  killAllChildren,
  Peer,
  PEERS_DIR,
  peers,
  ROOT,
  startEchoServer,
  withTimeout,
  type EchoServer,
} from './helpers';

jest.setTimeout(120_000);

const BROWSER_LIB = fs.readFileSync(path.join(PEERS_DIR, 'browser-lib.js'), 'utf8');
const BLANK_PAGE = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>wsflow interop</title></head><body></body></html>';

describePeer('Chromium (headless, playwright-core)', peers.chromium(), () => {
  let browser: Browser | undefined;
  let exampleUrl = '';
  const pages: Page[] = [];
  const consoleLines: string[] = [];

  async function newPage(url: string): Promise<Page> {
    if (browser === undefined) throw new Error('Chromium did not start');
    const page = await browser.newPage();
    pages.push(page);
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.addInitScript(BROWSER_LIB);
    await page.goto(url);
    return page;
  }

  /** page.evaluate of an expression, with a bound (evaluate itself has none). */
  function evaluate<T>(page: Page, expression: string, ms = 60_000): Promise<T> {
    return withTimeout(page.evaluate(expression) as Promise<T>, ms, `${expression} (browser console: ${consoleLines.slice(-20).join(' | ')})`);
  }

  let launching: Promise<Browser> | undefined;

  beforeAll(async () => {
    // Both at once; afterAll closes whatever started, even when the other one failed.
    launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS], timeout: 60_000 });
    const starting = (async () => {
      const command = await exampleServerCommand();
      const example = new Peer(process.execPath, [...command, '--addr', '127.0.0.1:0'], { cwd: ROOT });
      const line = await example.waitForLine(/^wsflow echo server on http:\/\/127\.0\.0\.1:\d+\//, 30_000);
      exampleUrl = (/http:\/\/127\.0\.0\.1:\d+\//.exec(line) as RegExpExecArray)[0];
    })();
    const [launched, started] = await Promise.allSettled([withTimeout(launching, 70_000, 'Chromium launch'), starting]);
    if (launched.status === 'fulfilled') browser = launched.value;
    else throw launched.reason;
    if (started.status === 'rejected') throw started.reason;
  }, 110_000);

  afterAll(async () => {
    await Promise.all(pages.map((p) => withTimeout(p.close(), 5000, 'page close').catch(() => undefined)));
    // A launch still under way (or that outlived its timeout) is waited for, then closed too.
    const b = browser ?? (await withTimeout(launching ?? Promise.reject(new Error('never launched')), 65_000, 'Chromium launch').catch(() => undefined));
    if (b !== undefined) await withTimeout(b.close(), 15_000, 'Chromium close').catch(() => undefined);
    await killAllChildren();
  }, 90_000);

  describe('the example echo server and its page', () => {
    test('clicking Open, Send, Close shows OPEN, RESPONSE, CLOSE', async () => {
      const page = await newPage(exampleUrl);
      const output = page.locator('#output');
      await page.click('#open');
      await output.getByText('OPEN', { exact: true }).waitFor();
      await page.fill('#input', 'héllo 😀');
      await page.click('#send');
      await output.getByText('RESPONSE: héllo 😀', { exact: true }).waitFor();
      await page.click('#close');
      await output.getByText(/^CLOSE 1000\b/).waitFor();
      const lines = await output.locator('div').allTextContents();
      expect(lines).toEqual(['OPEN', 'SEND: héllo 😀', 'RESPONSE: héllo 😀', expect.stringMatching(/^CLOSE 1000\b/)]);
    });

    test('multi-byte text and emoji, ArrayBuffer, 1 MiB and 16 MiB echo; permessage-deflate negotiated', async () => {
      const page = await newPage(exampleUrl);
      const wsUrl = `${exampleUrl.replace(/^http/, 'ws')}echo`;
      const res = await evaluate<{ extensions: string; results: Array<{ name: string; ok: boolean; len: number }>; close: { code: number } }>(
        page,
        `__interop.exampleEcho(${JSON.stringify(wsUrl)})`,
      );
      expect(res.results.map(({ name, ok, len }) => ({ name, ok, len }))).toEqual([
        { name: 'utf8', ok: true, len: 73 },
        { name: 'arraybuffer', ok: true, len: 256 },
        { name: '1MiB-text', ok: true, len: 1 << 20 },
        { name: '1MiB-binary', ok: true, len: 1 << 20 },
        { name: '16MiB-binary', ok: true, len: 16 << 20 },
        { name: '16MiB-text', ok: true, len: 16 << 20 },
      ]);
      expect(res.extensions).toMatch(/^permessage-deflate\b/);
      expect(res.close).toMatchObject({ code: 1000, wasClean: true });
    });
  });

  describe('a wsflow server in the test process, same-origin page', () => {
    let server: EchoServer | undefined;
    afterEach(async () => {
      await server?.close();
      server = undefined;
    });

    test('subprotocol, compression, echo, server ping, fragments, close codes and reasons both ways', async () => {
      server = await startEchoServer({ subprotocols: ['chat.v2'], compression: true }, BLANK_PAGE);
      const page = await newPage(`http://127.0.0.1:${server.port}/`);
      const out = await evaluate<{
        protocol: string;
        extensions: string;
        echoes: unknown[];
        serverPing: string;
        srvFragments: unknown;
        close: unknown;
        close2: unknown;
      }>(page, `__interop.scenario(${JSON.stringify(server.url)})`);
      const c1 = await server.conn(0);
      const c2 = await server.conn(1);
      const closed1 = await withTimeout(c1.closed, 15_000, 'server close 1');
      const closed2 = await withTimeout(c2.closed, 15_000, 'server close 2');

      expect(c1.origin).toBe(`http://127.0.0.1:${server.port}`);
      expect(out.protocol).toBe('chat.v2');
      expect(c1.protocol).toBe('chat.v2');
      expect(out.extensions).toMatch(/^permessage-deflate\b/);
      expect(c1.extensions).toMatch(/^permessage-deflate\b/);
      expect(out.echoes).toEqual(expectedEchoes(WHOLE_FIXTURES));
      expect(c1.received).toEqual(WHOLE_FIXTURES.map((f) => summary(f.type, f.data)));
      // Both sides compressed: ~2 MiB of redundant data went each way.
      expect(c1.bytesRead).toBeLessThan(512 * 1024);
      expect(c1.bytesWritten).toBeLessThan(512 * 1024);
      expect(out.serverPing).toBe('srv-pong:hello');
      expect(c1.pongs).toContain('hello');
      expect(out.srvFragments).toEqual({ text: true, binary: true });
      // Browser closes with 4001 'bye': the server sees both; the browser sees the echoed code.
      expect(closed1).toEqual({ code: 4001, reason: 'bye', wasClean: true });
      expect(out.close).toMatchObject({ code: 4001, wasClean: true });
      // Server closes with 4002 'srv': the browser's onclose sees both.
      expect(out.close2).toEqual({ code: 4002, reason: 'srv', wasClean: true });
      expect(c2.serverClose).toMatchObject({ code: 4002, wasClean: true });
      expect(closed2).toMatchObject({ code: 4002, wasClean: true });
      expect([...c1.errors, ...c2.errors]).toEqual([]);
    });

    test('the default checkOrigin refuses a page of another origin', async () => {
      server = await startEchoServer({ compression: true }, BLANK_PAGE);
      const page = await newPage(exampleUrl); // another port: another origin
      const res = await evaluate<{ opened: boolean; close: { code: number } }>(page, `__interop.refused(${JSON.stringify(server.url)})`);
      expect(res.opened).toBe(false);
      expect(res.close.code).toBe(1006);
      expect(server.conns).toHaveLength(0);
      expect(server.handshakeErrors).toEqual([expect.stringMatching(/origin/i)]);
    });
  });
});
