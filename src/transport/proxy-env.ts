// The proxy a client takes from its environment, with python `websockets`' precedence, and the
// `no_proxy` rules curl, Python and Go agree on (plus CIDR ranges, which Go and newer curl accept).
import * as net from 'net';

/** An environment to read: `process.env` by default; tests pass their own. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * One variable, lowercase spelling first: when the lowercase one is set at all it wins, even empty
 * (which then means "none"), as in Python's `getproxies_environment`.
 */
export function readProxyVariable(env: Environment, lower: string): string | undefined {
  const low = env[lower];
  if (low !== undefined) return low.trim() === '' ? undefined : low.trim();
  const up = env[lower.toUpperCase()];
  return up === undefined || up.trim() === '' ? undefined : up.trim();
}

/**
 * The proxy URL the environment asks for, before `no_proxy`: `wss_proxy` then `https_proxy` for `wss:`,
 * `ws_proxy` then `http_proxy` for `ws:`, then `all_proxy` for both.
 */
export function proxyVariableFor(secure: boolean, env: Environment): string | undefined {
  const names = secure ? ['wss_proxy', 'https_proxy', 'all_proxy'] : ['ws_proxy', 'http_proxy', 'all_proxy'];
  for (const name of names) {
    const value = readProxyVariable(env, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** A parsed `no_proxy` list. */
export interface NoProxyRules {
  /** `*`: no proxy for anyone. */
  all: boolean;
  /** Host-name rules: the name (lowercase, no leading dot) and an optional port. */
  names: Array<{ name: string; port: number | undefined }>;
  /** IP literals and CIDR ranges; `ipPorts` holds the literals that came with a port. */
  ips: net.BlockList;
  ipPorts: Array<{ address: string; family: 'ipv4' | 'ipv6'; port: number }>;
}

const NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i;

function parsePort(text: string, entry: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new TypeError(`Invalid port in no_proxy entry ${JSON.stringify(entry)}`);
  return port;
}

function family(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv4(address) ? 'ipv4' : 'ipv6';
}

/**
 * Parses a `no_proxy` value: entries separated by commas or spaces, each `*`, a host name (matching
 * itself and its subdomains; a leading `.` or `*.` is ignored), `host:port`, an IP literal (`[v6]:port`
 * for a port) or a CIDR range. A malformed entry is a TypeError.
 */
export function parseNoProxy(value: string): NoProxyRules {
  const rules: NoProxyRules = { all: false, names: [], ips: new net.BlockList(), ipPorts: [] };
  for (const entry of value.split(/[\s,]+/)) {
    if (entry === '') continue;
    if (entry === '*') {
      rules.all = true;
      continue;
    }
    const slash = entry.indexOf('/');
    if (slash !== -1) {
      let address = entry.slice(0, slash);
      if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
      const prefixText = entry.slice(slash + 1);
      const kind = net.isIP(address);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (kind === 0 || !(prefix >= 0 && prefix <= (kind === 4 ? 32 : 128))) {
        throw new TypeError(`Invalid CIDR range in no_proxy: ${JSON.stringify(entry)}`);
      }
      rules.ips.addSubnet(address, prefix, family(address));
      continue;
    }
    if (net.isIP(entry) !== 0) {
      rules.ips.addAddress(entry, family(entry));
      continue;
    }
    const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
    if (bracketed !== null) {
      const address = bracketed[1] as string;
      if (!net.isIPv6(address)) throw new TypeError(`Invalid IPv6 address in no_proxy: ${JSON.stringify(entry)}`);
      if (bracketed[2] === undefined) rules.ips.addAddress(address, 'ipv6');
      else rules.ipPorts.push({ address, family: 'ipv6', port: parsePort(bracketed[2], entry) });
      continue;
    }
    const colon = entry.lastIndexOf(':');
    const host = colon === -1 ? entry : entry.slice(0, colon);
    const port = colon === -1 ? undefined : parsePort(entry.slice(colon + 1), entry);
    if (net.isIPv4(host)) {
      if (port === undefined) rules.ips.addAddress(host, 'ipv4');
      else rules.ipPorts.push({ address: host, family: 'ipv4', port });
      continue;
    }
    const name = host.replace(/^\*?\./, '');
    if (!NAME.test(name)) throw new TypeError(`Invalid host name in no_proxy: ${JSON.stringify(entry)}`);
    rules.names.push({ name: name.toLowerCase().replace(/\.$/, ''), port });
  }
  return rules;
}

/** True when `hostname` (IPv6 without brackets) and `port` are exempted from the proxy by `rules`. */
export function bypassesProxy(rules: NoProxyRules, hostname: string, port: number): boolean {
  if (rules.all) return true;
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (net.isIP(host) !== 0) {
    const fam = family(host);
    if (rules.ips.check(host, fam)) return true;
    const probe = new net.BlockList();
    probe.addAddress(host, fam);
    // BlockList compares addresses in their canonical form (::1 = 0:0:0:0:0:0:0:1).
    return rules.ipPorts.some((r) => r.port === port && r.family === fam && probe.check(r.address, fam));
  }
  return rules.names.some((r) => (r.port === undefined || r.port === port) && (host === r.name || host.endsWith(`.${r.name}`)));
}

/**
 * The proxy URL the environment gives for a target, or undefined for none: the variables of
 * {@link proxyVariableFor}, unless `no_proxy`/`NO_PROXY` exempts the target.
 */
export function proxyFromEnvironment(secure: boolean, hostname: string, port: number, env: Environment = process.env): string | undefined {
  const proxy = proxyVariableFor(secure, env);
  if (proxy === undefined) return undefined;
  const noProxy = readProxyVariable(env, 'no_proxy');
  if (noProxy !== undefined && bypassesProxy(parseNoProxy(noProxy), hostname, port)) return undefined;
  return proxy;
}
