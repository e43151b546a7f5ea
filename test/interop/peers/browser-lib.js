// Runs inside Chromium (added with page.addInitScript): helpers for the interop scenario, as
// window.__interop. Plain JavaScript on purpose: test code handed to page.evaluate as a function would
// be transpiled (and maybe instrumented) by Jest first, and the DOM types are not in the tsconfig.
(() => {
  const TIMEOUT = 20000;
  const pattern = (n, mul, mod) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * mul) % mod;
    return b;
  };
  const fixtures = () => [
    ['utf8', 'h\u00e9llo w\u00f6rld \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \u{1F600}\u{1F389}\u{1F44D}\u{1F3FD} \u2713'],
    ['binary', pattern(256, 1, 256).buffer],
    ['empty-text', ''],
    ['empty-binary', new ArrayBuffer(0)],
    ['1MiB-binary', pattern(1 << 20, 7, 251).buffer],
    ['1MiB-text', 'abcdefghijklmnopqrstuvwxyz012345'.repeat(32768)],
  ];
  const FRAG_TEXT = 'fragmented: ' + '\u00e9\u{1F600}\u00df\u20ac'.repeat(2000);
  const FRAG_BINARY = pattern(300000, 13, 256);

  const same = (a, b) => {
    if (typeof a === 'string' || typeof b === 'string') return a === b;
    const x = new Uint8Array(a);
    const y = new Uint8Array(b);
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  };
  const size = (d) => (typeof d === 'string' ? new TextEncoder().encode(d).length : d.byteLength);
  const kind = (d) => (typeof d === 'string' ? 'text' : 'binary');

  function open(url, protocols) {
    const ws = new WebSocket(url, protocols);
    ws.binaryType = 'arraybuffer';
    const queue = [];
    const waiters = [];
    ws.onmessage = (e) => (waiters.length ? waiters.shift().resolve(e.data) : queue.push(e.data));
    const closed = new Promise((resolve) => {
      ws.onclose = (e) => {
        resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        for (const w of waiters.splice(0)) w.reject(new Error('closed ' + e.code));
      };
    });
    const withTimeout = (p, what) =>
      Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error('browser timeout: ' + what)), TIMEOUT))]);
    const next = () =>
      withTimeout(
        queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => waiters.push({ resolve, reject })),
        'a message',
      );
    const opened = withTimeout(
      new Promise((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error('WebSocket error before open'));
      }),
      'open',
    );
    return { ws, next, opened, closed: withTimeout(closed, 'close') };
  }

  /** Echoes each message through `url` and checks it came back identical. */
  async function echo(url, messages) {
    const c = open(url);
    await c.opened;
    const results = [];
    for (const [name, data] of messages) {
      const t0 = performance.now();
      c.ws.send(data);
      const back = await c.next();
      results.push({ name, ok: kind(back) === kind(data) && same(back, data), type: kind(back), len: size(back), ms: Math.round(performance.now() - t0) });
    }
    const extensions = c.ws.extensions;
    c.ws.close(1000);
    const close = await c.closed;
    return { extensions, results, close };
  }

  window.__interop = {
    pattern,
    fixtures,
    open,
    echo,
    /** The basic echo on the example server: multi-byte text, ArrayBuffer, 1 MiB and 16 MiB. */
    exampleEcho(url) {
      return echo(url, [
        ['utf8', fixtures()[0][1]],
        ['arraybuffer', pattern(256, 1, 256).buffer],
        ['1MiB-text', fixtures()[5][1]],
        ['1MiB-binary', pattern(1 << 20, 7, 251).buffer],
        ['16MiB-binary', pattern(16 << 20, 7, 251).buffer],
        ['16MiB-text', 'abcdefghijklmnopqrstuvwxyz0123\u00e9'.repeat(1 << 19)],
      ]);
    },
    /** Against the test's own wsflow server (same origin): the whole scenario a browser can play. */
    async scenario(url) {
      const out = {};
      const c = open(url, ['chat.v2', 'chat']);
      await c.opened;
      out.protocol = c.ws.protocol;
      out.extensions = c.ws.extensions;
      out.echoes = [];
      for (const [name, data] of fixtures()) {
        c.ws.send(data);
        const back = await c.next();
        out.echoes.push({ name, ok: kind(back) === kind(data) && same(back, data), type: kind(back), len: size(back) });
      }
      c.ws.send('srv-ping:hello');
      out.serverPing = await c.next();
      c.ws.send('srv-fragments');
      const t = await c.next();
      const b = await c.next();
      out.srvFragments = { text: t === FRAG_TEXT, binary: typeof b !== 'string' && same(b, FRAG_BINARY) };
      c.ws.close(4001, 'bye');
      out.close = await c.closed;

      const c2 = open(url);
      await c2.opened;
      c2.ws.send('srv-close:4002:srv');
      out.close2 = await c2.closed;
      return out;
    },
    /** Opens a connection expecting the server to refuse it; resolves with how it ended. */
    async refused(url) {
      const c = open(url);
      let opened = false;
      try {
        await c.opened;
        opened = true;
      } catch {
        // expected
      }
      const close = await c.closed;
      return { opened, close };
    },
  };
})();
