// Node's own WebSocket (undici; `node --experimental-websocket` on Node 20) as a client of a wsflow
// server: runs the interop scenario, prints JSON results. No fragments or client pings: the API has none.
// usage: node --experimental-websocket node_client.mjs URL
import { createHash } from 'node:crypto';

const TIMEOUT = 10_000;
const url = process.argv[2];
if (typeof WebSocket !== 'function') {
  console.error(`node_client: no global WebSocket (typeof WebSocket: ${typeof WebSocket}); run with --experimental-websocket`);
  process.exit(2);
}

const pattern = (n, mul, mod) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * mul) % mod;
  return b;
};
const MESSAGES = [
  ['utf8', 'h\u00e9llo w\u00f6rld \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \u{1F600}\u{1F389}\u{1F44D}\u{1F3FD} \u2713'],
  ['binary', pattern(256, 1, 256).buffer],
  ['empty-text', ''],
  ['empty-binary', new ArrayBuffer(0)],
  ['1MiB-binary', pattern(1 << 20, 7, 251).buffer],
  ['1MiB-text', 'abcdefghijklmnopqrstuvwxyz012345'.repeat(32768)],
];
const FRAG_TEXT = 'fragmented: ' + '\u00e9\u{1F600}\u00df\u20ac'.repeat(2000);
const FRAG_BINARY = pattern(300000, 13, 256);

const digest = (data) => createHash('sha256').update(typeof data === 'string' ? Buffer.from(data, 'utf8') : new Uint8Array(data)).digest('hex');
const len = (data) => (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);

function open(protocols) {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  const waiters = [];
  ws.onmessage = (e) => (waiters.length ? waiters.shift().resolve(e.data) : queue.push(e.data));
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => {
      resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
      for (const w of waiters.splice(0)) w.reject(new Error(`closed ${e.code}`));
    };
  });
  const next = () =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('timeout waiting for a message')), TIMEOUT);
          waiters.push({ resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
        });
  const opened = new Promise((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`WebSocket error: ${e.message ?? e.type}`));
  });
  return { ws, next, closed, opened };
}

async function conn1() {
  const out = { echoes: [] };
  const c = open(['chat.v2', 'chat']);
  await c.opened;
  out.protocol = c.ws.protocol;
  out.extensions = c.ws.extensions;
  for (const [name, data] of MESSAGES) {
    c.ws.send(data);
    const echo = await c.next();
    const ok = typeof echo === typeof data && digest(echo) === digest(data);
    out.echoes.push({ name, ok, type: typeof echo === 'string' ? 'text' : 'binary', len: len(echo) });
  }
  c.ws.send('srv-ping:hello');
  out.serverPing = await c.next();
  c.ws.send('srv-fragments');
  const t = await c.next();
  const b = await c.next();
  out.srvFragments = { text: t === FRAG_TEXT, binary: typeof b !== 'string' && digest(b) === digest(FRAG_BINARY) };
  c.ws.close(4001, 'bye');
  out.close = await c.closed;
  return out;
}

async function conn2() {
  const c = open([]);
  await c.opened;
  c.ws.send('srv-close:4002:srv');
  return { close: await c.closed };
}

const watchdog = setTimeout(() => {
  console.error('node_client: scenario timed out');
  process.exit(3);
}, 60_000);
try {
  const result = { typeofWebSocket: typeof WebSocket, conn1: await conn1(), conn2: await conn2() };
  console.log(JSON.stringify(result));
  clearTimeout(watchdog);
} catch (err) {
  console.error('node_client:', err);
  process.exit(1);
}
