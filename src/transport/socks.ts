// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), and SOCKS4/4a: the few bytes each
// way that turn a connection to the proxy into a tunnel to the target.
import * as dns from 'dns';
import * as net from 'net';
import type { Duplex } from 'stream';
import { ProxyError } from '../errors';
import type { ProxyConfig } from './proxy-url';
import type { ProxyReader } from './reader';

/** The SOCKS5 reply codes (RFC 1928 §6), by value. */
export const SOCKS5_REPLIES: Readonly<Record<number, string>> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/** The SOCKS4 reply codes, by value (90 is success). */
export const SOCKS4_REPLIES: Readonly<Record<number, string>> = {
  91: 'request rejected or failed',
  92: 'rejected: the proxy cannot reach identd on the client',
  93: 'rejected: identd reports a different user id',
};

async function resolve(hostname: string, family: 0 | 4): Promise<string> {
  if (net.isIP(hostname) !== 0) return hostname;
  const { address } = await dns.promises.lookup(hostname, { family });
  return address;
}

function ipv6Bytes(address: string): Buffer {
  // Expand "::" and a trailing dotted IPv4 part into eight 16-bit groups.
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -(v4[1] as string).length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const groups = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port, 0);
  return b;
}

/** The SOCKS5 address of the target: the name itself for socks5h, else the address it resolves to. */
async function socks5Address(proxy: ProxyConfig, hostname: string): Promise<Buffer> {
  const address = proxy.kind === 'socks5h' ? hostname : await resolve(hostname, 0);
  if (net.isIPv4(address)) return Buffer.from([1, ...address.split('.').map(Number)]);
  if (net.isIPv6(address)) return Buffer.concat([Buffer.from([4]), ipv6Bytes(address)]);
  const name = Buffer.from(address, 'utf8');
  if (name.length > 255) throw new ProxyError(proxy.display, 0, 'The target host name is too long for SOCKS5 (255 bytes at most)');
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

async function socks5(socket: Duplex, reader: ProxyReader, proxy: ProxyConfig, hostname: string, port: number): Promise<void> {
  const withAuth = proxy.username !== undefined;
  socket.write(Buffer.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
  const [version, method] = await reader.read(2);
  if (version !== 5) throw new ProxyError(proxy.display, 0, `The proxy ${proxy.display} does not speak SOCKS5`);
  if (method === 0xff) {
    throw new ProxyError(
      proxy.display,
      407,
      withAuth
        ? `The SOCKS5 proxy ${proxy.display} accepts none of the offered authentication methods`
        : `The SOCKS5 proxy ${proxy.display} requires authentication: put the credentials in the proxy URL`,
    );
  }
  if (method === 2 && withAuth) {
    const user = Buffer.from(proxy.username as string, 'utf8');
    const pass = Buffer.from(proxy.password ?? '', 'utf8');
    socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
    const [, status] = await reader.read(2);
    if (status !== 0) {
      throw new ProxyError(proxy.display, 407, `The SOCKS5 proxy ${proxy.display} rejected the user name or password`);
    }
  } else if (method !== 0) {
    throw new ProxyError(proxy.display, 0, `The SOCKS5 proxy ${proxy.display} chose an authentication method that was not offered (${String(method)})`);
  }

  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), await socks5Address(proxy, hostname), portBytes(port)]));
  const [v, reply, , atyp] = await reader.read(4);
  if (v !== 5) throw new ProxyError(proxy.display, 0, `The proxy ${proxy.display} answered the SOCKS5 request with something else`);
  if (reply !== 0) {
    const name = SOCKS5_REPLIES[reply as number] ?? 'unknown error';
    throw new ProxyError(proxy.display, 0, `The SOCKS5 proxy ${proxy.display} could not connect to the target: ${name} (reply ${String(reply)})`, {
      socksReply: reply,
    });
  }
  // The bound address the proxy reports is of no use to a client, but it must be read off the wire.
  if (atyp === 1) await reader.read(4 + 2);
  else if (atyp === 4) await reader.read(16 + 2);
  else if (atyp === 3) await reader.read((await reader.read(1))[0] as number + 2);
  else throw new ProxyError(proxy.display, 0, `The SOCKS5 proxy ${proxy.display} answered with an unknown address type (${String(atyp)})`);
}

async function socks4(socket: Duplex, reader: ProxyReader, proxy: ProxyConfig, hostname: string, port: number): Promise<void> {
  const user = Buffer.from(proxy.username ?? '', 'utf8');
  let ip: Buffer;
  let name = Buffer.alloc(0);
  if (proxy.kind === 'socks4a' && !net.isIPv4(hostname)) {
    if (net.isIPv6(hostname)) throw new ProxyError(proxy.display, 0, 'SOCKS4a cannot reach an IPv6 address');
    ip = Buffer.from([0, 0, 0, 1]); // 0.0.0.x: "the name follows" (SOCKS4a)
    name = Buffer.concat([Buffer.from(hostname, 'utf8'), Buffer.from([0])]);
  } else {
    const address = await resolve(hostname, 4);
    if (!net.isIPv4(address)) throw new ProxyError(proxy.display, 0, 'SOCKS4 can only reach IPv4 addresses');
    ip = Buffer.from(address.split('.').map(Number));
  }
  socket.write(Buffer.concat([Buffer.from([4, 1]), portBytes(port), ip, user, Buffer.from([0]), name]));
  const [, reply] = await reader.read(8);
  if (reply !== 90) {
    const text = SOCKS4_REPLIES[reply as number] ?? 'unknown error';
    throw new ProxyError(proxy.display, 0, `The SOCKS4 proxy ${proxy.display} refused: ${text} (reply ${String(reply)})`, { socksReply: reply });
  }
}

/** Opens a SOCKS tunnel to `hostname:port` over `socket`, which is connected to the proxy. */
export function socksConnect(socket: Duplex, reader: ProxyReader, proxy: ProxyConfig, hostname: string, port: number): Promise<void> {
  return proxy.kind === 'socks4' || proxy.kind === 'socks4a'
    ? socks4(socket, reader, proxy, hostname, port)
    : socks5(socket, reader, proxy, hostname, port);
}
