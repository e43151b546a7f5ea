/**
 * Proxy benchmark: time to open a WebSocket (connect → open) directly and through each proxy type —
 * squid as HTTP and HTTPS proxy, microsocks as SOCKS5 (socks5 and socks5h) — to a ws: and a wss:
 * server on loopback, for wsflow's connect() and for ws with https-proxy-agent / socks-proxy-agent.
 *
 *   npm run bench:proxy                 # 5 repetitions of 40 handshakes per cell and client
 *   npm run bench:proxy -- --quick      # 3 repetitions of 15
 *
 * One process, handshakes one at a time (a latency benchmark, not a load test). In every repetition,
 * each cell runs wsflow and ws back to back, in an order that alternates per repetition; the ratio
 * ws time / wsflow time is taken per repetition from those neighbours and its median reported (above 1:
 * wsflow is faster). "vs direct" is wsflow through the proxy over wsflow direct, same repetition.
 */
import * as fs from 'fs';
import * as os from 'os';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';
import WsWebSocket from 'ws';
import { connect, type ConnectOptions } from '../src';
import { makeCert } from '../test/helpers/certs';
import { startEchoTarget } from '../test/helpers/echo-targets';
import { startMicrosocks, startSquid, stopAllProxies } from '../test/helpers/proxies';
import { machineInfo, packageVersion } from './lib/machine';
import { median, pairwiseRatios } from './lib/stats';
import { formatRatio, renderTextTable, type Column } from './lib/table';

interface Cell {
  name: string;
  url: string;
  wsflow: ConnectOptions;
  /** ws's options (agent, ca) for the same route. */
  ws: () => WsWebSocket.ClientOptions;
  direct: string | null;
}

async function wsflowOpen(cell: Cell): Promise<void> {
  const ws = await connect(cell.url, { ...cell.wsflow, proxy: cell.wsflow.proxy ?? false });
  ws.terminate();
}

function wsOpen(cell: Cell, options: WsWebSocket.ClientOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ws = new WsWebSocket(cell.url, options);
    ws.once('open', () => {
      ws.terminate();
      resolve();
    });
    ws.once('error', reject);
  });
}

/** Mean milliseconds per handshake over `n` sequential handshakes. */
async function timeOpens(n: number, open: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await open();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const reps = quick ? 3 : 5;
  const perCell = quick ? 15 : 40;
  for (const k of ['http_proxy', 'https_proxy', 'all_proxy', 'ws_proxy', 'wss_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']) delete process.env[k];

  const cert = makeCert();
  const plain = await startEchoTarget();
  const secure = await startEchoTarget({ tls: cert });
  const squid = await startSquid({ https: cert });
  const socks = await startMicrosocks();
  const wsUrl = `ws://localhost:${plain.port}/`;
  const wssUrl = `wss://localhost:${secure.port}/`;
  const httpProxy = `http://127.0.0.1:${squid.port}`;
  const httpsProxy = `https://localhost:${squid.httpsPort as number}`;
  const socksProxy = `socks5://127.0.0.1:${socks.port}`;
  const socksH = `socks5h://127.0.0.1:${socks.port}`;
  const ca = cert.cert;

  const cells: Cell[] = [];
  for (const [scheme, url] of [
    ['ws:', wsUrl],
    ['wss:', wssUrl],
  ] as const) {
    const tls = scheme === 'wss:' ? { ca } : {};
    const direct = `direct ${scheme}`;
    cells.push({ name: direct, url, wsflow: { ...tls }, ws: () => ({ ...tls }), direct: null });
    cells.push({
      name: `HTTP proxy (squid) ${scheme}`,
      url,
      wsflow: { ...tls, proxy: httpProxy },
      ws: () => ({ ...tls, agent: new HttpsProxyAgent(httpProxy) }),
      direct,
    });
    cells.push({
      name: `HTTPS proxy (squid) ${scheme}`,
      url,
      wsflow: { ...tls, proxy: httpsProxy, proxyTls: { ca } },
      ws: () => ({ ...tls, agent: new HttpsProxyAgent(httpsProxy, { ca }) }),
      direct,
    });
    cells.push({
      name: `socks5 (microsocks) ${scheme}`,
      url,
      wsflow: { ...tls, proxy: socksProxy },
      ws: () => ({ ...tls, agent: new SocksProxyAgent(socksProxy) }),
      direct,
    });
    cells.push({
      name: `socks5h (microsocks) ${scheme}`,
      url,
      wsflow: { ...tls, proxy: socksH },
      ws: () => ({ ...tls, agent: new SocksProxyAgent(socksH) }),
      direct,
    });
  }

  const times = new Map<string, { wsflow: number[]; ws: number[] }>(cells.map((c) => [c.name, { wsflow: [], ws: [] }]));
  try {
    // Warm-up: JIT, TLS session machinery, the proxies' first connections.
    for (const cell of cells) {
      await timeOpens(3, () => wsflowOpen(cell));
      await timeOpens(3, () => wsOpen(cell, cell.ws()));
    }
    for (let r = 0; r < reps; r++) {
      for (const cell of cells) {
        const t = times.get(cell.name) as { wsflow: number[]; ws: number[] };
        // A fresh agent per handshake: ws + agent opens one tunnel per WebSocket, as wsflow does.
        const runWs = async (): Promise<void> => void t.ws.push(await timeOpens(perCell, () => wsOpen(cell, cell.ws())));
        const runWsflow = async (): Promise<void> => void t.wsflow.push(await timeOpens(perCell, () => wsflowOpen(cell)));
        if (r % 2 === 0) {
          await runWsflow();
          await runWs();
        } else {
          await runWs();
          await runWsflow();
        }
      }
      process.stderr.write(`repetition ${r + 1}/${reps} done\n`);
    }
  } finally {
    await stopAllProxies();
    await plain.close();
    await secure.close();
    fs.rmSync(cert.dir, { recursive: true, force: true });
  }

  const columns: Column[] = [
    { header: 'route' },
    { header: 'wsflow ms', align: 'right' },
    { header: 'ws + agent ms', align: 'right' },
    { header: 'ws / wsflow', align: 'right' },
    { header: 'wsflow time vs direct', align: 'right' },
  ];
  const rows = cells.map((cell) => {
    const t = times.get(cell.name) as { wsflow: number[]; ws: number[] };
    const direct = cell.direct !== null ? times.get(cell.direct) : undefined;
    return [
      cell.name,
      median(t.wsflow).toFixed(2),
      median(t.ws).toFixed(2),
      formatRatio(median(pairwiseRatios(t.ws, t.wsflow))),
      direct !== undefined ? formatRatio(median(pairwiseRatios(t.wsflow, direct.wsflow))) : '',
    ];
  });
  const m = machineInfo();
  console.log(
    `Handshake time (connect → open), median of ${reps} repetitions × ${perCell} sequential handshakes; ` +
      `${m.cpu}, ${m.cores} cores, Node ${m.node}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
      `ws ${packageVersion('ws')}, https-proxy-agent ${packageVersion('https-proxy-agent')}, socks-proxy-agent ${packageVersion('socks-proxy-agent')}\n`,
  );
  console.log(renderTextTable(columns, rows));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
