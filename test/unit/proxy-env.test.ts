// The proxy a client takes from its environment (python websockets' precedence) and the no_proxy rules.
import { bypassesProxy, parseNoProxy, proxyFromEnvironment, proxyVariableFor } from '../../src/transport/proxy-env';
import { parseProxyUrl } from '../../src/transport/proxy-url';

describe('which variable', () => {
  test('wss: wss_proxy, then https_proxy, then all_proxy', () => {
    expect(proxyVariableFor(true, { wss_proxy: 'http://a', https_proxy: 'http://b', all_proxy: 'http://c' })).toBe('http://a');
    expect(proxyVariableFor(true, { https_proxy: 'http://b', all_proxy: 'http://c', ws_proxy: 'http://x', http_proxy: 'http://y' })).toBe('http://b');
    expect(proxyVariableFor(true, { all_proxy: 'http://c', http_proxy: 'http://y' })).toBe('http://c');
    expect(proxyVariableFor(true, { http_proxy: 'http://y', ws_proxy: 'http://x' })).toBeUndefined();
  });

  test('ws: ws_proxy, then http_proxy, then all_proxy', () => {
    expect(proxyVariableFor(false, { ws_proxy: 'http://a', http_proxy: 'http://b', all_proxy: 'http://c' })).toBe('http://a');
    expect(proxyVariableFor(false, { http_proxy: 'http://b', all_proxy: 'http://c', https_proxy: 'http://z' })).toBe('http://b');
    expect(proxyVariableFor(false, { ALL_PROXY: 'socks5://c' })).toBe('socks5://c');
    expect(proxyVariableFor(false, { https_proxy: 'http://z', wss_proxy: 'http://w' })).toBeUndefined();
  });

  test('lowercase wins over uppercase; set but empty lowercase means none', () => {
    expect(proxyVariableFor(false, { http_proxy: 'http://low', HTTP_PROXY: 'http://UP' })).toBe('http://low');
    expect(proxyVariableFor(false, { HTTP_PROXY: 'http://UP' })).toBe('http://UP');
    expect(proxyVariableFor(false, { http_proxy: '', HTTP_PROXY: 'http://UP' })).toBeUndefined();
    expect(proxyVariableFor(false, { http_proxy: '', HTTP_PROXY: 'http://UP', all_proxy: 'http://all' })).toBe('http://all');
    expect(proxyVariableFor(true, { WSS_PROXY: 'http://W', https_proxy: 'http://h' })).toBe('http://W');
  });
});

describe('no_proxy', () => {
  const env = (no: string): Record<string, string> => ({ http_proxy: 'http://proxy:3128', no_proxy: no });
  const via = (no: string, host: string, port = 80): string | undefined => proxyFromEnvironment(false, host, port, env(no));

  test('a host name matches itself and its subdomains, not look-alikes', () => {
    expect(via('example.com', 'example.com')).toBeUndefined();
    expect(via('example.com', 'api.example.com')).toBeUndefined();
    expect(via('example.com', 'EXAMPLE.com.')).toBeUndefined();
    expect(via('example.com', 'badexample.com')).toBe('http://proxy:3128');
    expect(via('example.com', 'example.org')).toBe('http://proxy:3128');
  });

  test('a leading . or *. is ignored', () => {
    for (const rule of ['.example.com', '*.example.com']) {
      expect(via(rule, 'a.b.example.com')).toBeUndefined();
      expect(via(rule, 'example.com')).toBeUndefined();
      expect(via(rule, 'notexample.com')).toBe('http://proxy:3128');
    }
  });

  test('host:port matches that port only', () => {
    expect(via('example.com:8080', 'example.com', 8080)).toBeUndefined();
    expect(via('example.com:8080', 'example.com', 80)).toBe('http://proxy:3128');
    expect(via('127.0.0.1:8080', '127.0.0.1', 8080)).toBeUndefined();
    expect(via('[::1]:8080', '::1', 8080)).toBeUndefined();
    expect(via('[::1]:8080', '0:0:0:0:0:0:0:1', 8080)).toBeUndefined();
    expect(via('[::1]:8080', '::1', 80)).toBe('http://proxy:3128');
  });

  test('* exempts everything; separators are commas and spaces', () => {
    expect(via('*', 'anything.example')).toBeUndefined();
    expect(via(' a.com ,b.com  c.com', 'c.com')).toBeUndefined();
    expect(via('a.com,,b.com', 'b.com')).toBeUndefined();
  });

  test('IP literals and CIDR ranges, v4 and v6', () => {
    expect(via('10.1.2.3', '10.1.2.3')).toBeUndefined();
    expect(via('10.1.2.3', '10.1.2.4')).toBe('http://proxy:3128');
    expect(via('10.0.0.0/8', '10.200.0.1')).toBeUndefined();
    expect(via('10.0.0.0/8', '11.0.0.1')).toBe('http://proxy:3128');
    expect(via('192.168.1.0/24', '192.168.1.77')).toBeUndefined();
    expect(via('fd00::/8', 'fd12:3456::1')).toBeUndefined();
    expect(via('fd00::/8', 'fe80::1')).toBe('http://proxy:3128');
    expect(via('::1', '0:0::1')).toBeUndefined();
    expect(via('[::1]', '::1')).toBeUndefined();
    // A CIDR range says nothing about names.
    expect(via('127.0.0.0/8', 'localhost')).toBe('http://proxy:3128');
  });

  test('NO_PROXY is read when no_proxy is not set', () => {
    expect(proxyFromEnvironment(false, 'a.com', 80, { http_proxy: 'http://p', NO_PROXY: 'a.com' })).toBeUndefined();
    expect(proxyFromEnvironment(false, 'a.com', 80, { http_proxy: 'http://p', no_proxy: 'b.com', NO_PROXY: 'a.com' })).toBe('http://p');
  });

  test.each(['10.0.0.0/33', '::/129', 'abc/8', '10.0.0.0/x', 'host:0', 'host:70000', 'host:port', 'bad host!', '[::1', '[zz::1]:80', 'a..b'])(
    'malformed %p is a TypeError',
    (rule) => {
      expect(() => parseNoProxy(rule)).toThrow(TypeError);
    },
  );

  test('bypassesProxy on parsed rules', () => {
    const rules = parseNoProxy('internal, 172.16.0.0/12');
    expect(bypassesProxy(rules, 'db.internal', 5432)).toBe(true);
    expect(bypassesProxy(rules, '172.31.255.255', 1)).toBe(true);
    expect(bypassesProxy(rules, '172.32.0.0', 1)).toBe(false);
  });
});

describe('proxy URLs', () => {
  test('kinds, default ports, decoded credentials, display without them', () => {
    expect(parseProxyUrl('http://u%40x:p%3Aw@proxy')).toMatchObject({ kind: 'http', port: 80, username: 'u@x', password: 'p:w', display: 'http://proxy' });
    expect(parseProxyUrl('https://proxy')).toMatchObject({ kind: 'https', port: 443 });
    expect(parseProxyUrl('socks5h://[::1]')).toMatchObject({ kind: 'socks5h', hostname: '::1', port: 1080, display: 'socks5h://[::1]' });
    expect(parseProxyUrl(new URL('socks4a://h:9050'))).toMatchObject({ kind: 'socks4a', port: 9050 });
  });

  test.each(['ftp://h', 'http://', 'http://h/path', 'http://h?q', 'not a url', 'socks4://u:pw@h', `socks5://${'u'.repeat(256)}:p@h`])('%p is a TypeError', (url) => {
    expect(() => parseProxyUrl(url)).toThrow(TypeError);
  });
});
