// What a proxy URL means: the kind of proxy, where it listens, and its credentials — checked before any I/O.
import * as net from 'net';

/** The proxy kinds `connect()` speaks. `socks5h` and `socks4a` let the proxy resolve the target's name. */
export type ProxyKind = 'http' | 'https' | 'socks5' | 'socks5h' | 'socks4' | 'socks4a';

/** A parsed proxy URL. */
export interface ProxyConfig {
  kind: ProxyKind;
  /** Host name or IP literal (IPv6 without brackets). */
  hostname: string;
  port: number;
  /** Decoded user name and password from the URL, `undefined` when it had none. */
  username: string | undefined;
  password: string | undefined;
  /** The URL without its credentials: what error messages may show. */
  display: string;
}

const DEFAULT_PORTS: Record<ProxyKind, number> = {
  http: 80,
  https: 443,
  socks5: 1080,
  socks5h: 1080,
  socks4: 1080,
  socks4a: 1080,
};

function decode(part: string, what: string, display: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new TypeError(`The proxy ${display} has a badly percent-encoded ${what}`);
  }
}

/**
 * Parses a proxy URL (`http:`, `https:`, `socks5:`, `socks5h:`, `socks4:`, `socks4a:`); a TypeError names
 * what is wrong without quoting the credentials.
 */
export function parseProxyUrl(value: string | URL): ProxyConfig {
  const text = typeof value === 'string' ? value : value instanceof URL ? value.href : undefined;
  if (text === undefined) throw new TypeError('proxy must be a string, a URL, false or a function');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    // The text may hold credentials: say what is wrong, not what it is.
    throw new TypeError('Invalid proxy URL (expected e.g. http://host:3128 or socks5://host:1080)');
  }
  const kind = u.protocol.slice(0, -1) as ProxyKind;
  if (!Object.prototype.hasOwnProperty.call(DEFAULT_PORTS, kind)) {
    throw new TypeError(`Unsupported proxy scheme ${JSON.stringify(u.protocol)}: use http:, https:, socks5:, socks5h:, socks4: or socks4a:`);
  }
  if (u.hostname === '') throw new TypeError('The proxy URL has no host');
  const hostname = u.hostname.startsWith('[') && u.hostname.endsWith(']') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port !== '' ? Number(u.port) : DEFAULT_PORTS[kind];
  const display = `${u.protocol}//${u.host}`;
  if ((u.pathname !== '' && u.pathname !== '/') || u.search !== '' || u.hash !== '') {
    throw new TypeError(`The proxy URL ${display} must not have a path, query or fragment`);
  }
  let username: string | undefined;
  let password: string | undefined;
  if (u.username !== '' || u.password !== '') {
    username = decode(u.username, 'user name', display);
    password = decode(u.password, 'password', display);
    if (kind.startsWith('socks5') && (Buffer.byteLength(username) > 255 || Buffer.byteLength(password) > 255 || username === '')) {
      throw new TypeError(`SOCKS5 credentials for ${display} must be 1 to 255 bytes of user name and at most 255 of password (RFC 1929)`);
    }
    if (kind.startsWith('socks4') && u.password !== '') {
      throw new TypeError(`SOCKS4 has no passwords (only a user id): remove it from the proxy URL ${display}`);
    }
  }
  return { kind, hostname, port, username, password, display };
}

/** True when `host` is an IP literal (IPv6 without brackets). */
export function isIpLiteral(host: string): boolean {
  return net.isIP(host) !== 0;
}
