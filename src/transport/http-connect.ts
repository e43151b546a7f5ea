// An HTTP CONNECT tunnel (RFC 9110 §9.3.6) through an http: or https: proxy. CONNECT is used for ws: too:
// proxies that forward an Upgrade request themselves break it in too many ways (proxy-agents #176, #192).
import type { Duplex } from 'stream';
import { ProxyError } from '../errors';
import type { ProxyConfig } from './proxy-url';
import { ProxyReader } from './reader';

/** Largest CONNECT answer head read from a proxy; more is an error, not a buffer that grows. */
export const MAX_PROXY_RESPONSE_HEAD = 16 * 1024;

/** `host:port` as CONNECT's request target and Host want it (IPv6 in brackets). */
export function authority(hostname: string, port: number): string {
  return hostname.includes(':') ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** The `Proxy-Authorization` value for the proxy's URL credentials, if it had some. */
export function proxyAuthorization(proxy: ProxyConfig): string | undefined {
  if (proxy.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}`;
}

/**
 * Asks the proxy on `socket` for a tunnel to `hostname:port` and resolves once it answered 2xx.
 * `headers` are extra request headers (already checked for CR/LF by the caller). Rejects with a
 * {@link ProxyError} carrying the proxy's status when it refuses, or status 0 when it hangs up,
 * answers garbage or too much; `reader.fail()` (abort, timeout) ends the wait with that error.
 */
export async function httpConnect(
  socket: Duplex,
  reader: ProxyReader,
  proxy: ProxyConfig,
  hostname: string,
  port: number,
  headers: Readonly<Record<string, string>>,
): Promise<void> {
  const target = authority(hostname, port);
  let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  const auth = proxyAuthorization(proxy);
  let userAuth = false;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === 'proxy-authorization') userAuth = true;
    head += `${name}: ${headers[name] as string}\r\n`;
  }
  if (auth !== undefined && !userAuth) head += `Proxy-Authorization: ${auth}\r\n`;
  socket.write(`${head}\r\n`);

  const answer = await reader.readHead(
    MAX_PROXY_RESPONSE_HEAD,
    () => new ProxyError(proxy.display, 0, `The proxy ${proxy.display} sent more than ${MAX_PROXY_RESPONSE_HEAD} bytes without ending its answer to CONNECT`),
  );
  const statusLine = answer.slice(0, answer.indexOf('\r\n'));
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (m === null) {
    throw new ProxyError(proxy.display, 0, `The proxy ${proxy.display} answered CONNECT with something that is not HTTP/1.1`);
  }
  const status = Number(m[1]);
  if (status < 200 || status > 299) {
    // The reason phrase is the proxy's text: keep it printable and short.
    const reason = (m[2] ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
    throw new ProxyError(
      proxy.display,
      status,
      `The proxy ${proxy.display} refused the tunnel to ${target}: ${status}${reason !== '' ? ` ${reason}` : ''}`,
    );
  }
}
