import { checkSameOrigin, isSameOrigin } from '../../src/handshake/server';

describe('isSameOrigin', () => {
  const table: [string, string, boolean][] = [
    ['http://example.com', 'example.com', true],
    ['https://example.com', 'example.com', true],
    ['http://EXAMPLE.com', 'example.COM', true],
    ['http://example.com:8080', 'example.com:8080', true],
    ['http://example.com:8080', 'example.com', false],
    ['http://example.com', 'example.com:8080', false],
    ['http://example.com', 'example.com:80', true], // default port written out in Host
    ['https://example.com', 'example.com:443', true],
    ['https://example.com', 'example.com:80', false],
    ['http://evil.com', 'example.com', false],
    ['http://example.com.evil.com', 'example.com', false],
    ['http://example.com@evil.com', 'example.com', false],
    ['http://evil.com', 'evil.com@example.com', false],
    ['http://[::1]:3000', '[::1]:3000', true],
    ['http://127.0.0.1:3000', '127.0.0.1:3000', true],
    ['null', 'example.com', false],
    ['', 'example.com', false],
    ['not a url', 'example.com', false],
    ['file:///etc/passwd', '', false],
    ['http://\u212Aexample.com', 'kexample.com', true], // the URL parser maps it; Host compared as parsed
  ];
  it.each(table)('Origin %j vs Host %j → %s', (origin, host, expected) => {
    expect(isSameOrigin(origin, host)).toBe(expected);
  });
});

describe('checkSameOrigin (the default checkOrigin)', () => {
  const req = (raw: string[]) => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) headers[(raw[i] as string).toLowerCase()] ??= raw[i + 1] as string;
    return { headers, rawHeaders: raw };
  };
  const table: [string, string[], boolean][] = [
    ['no Origin (non-browser client)', ['Host', 'example.com'], true],
    ['same origin', ['Host', 'example.com', 'Origin', 'https://example.com'], true],
    ['cross origin', ['Host', 'example.com', 'Origin', 'https://evil.com'], false],
    ['duplicated Origin', ['Host', 'example.com', 'Origin', 'https://example.com', 'Origin', 'https://example.com'], false],
    ['duplicated Host', ['Host', 'evil.com', 'Host', 'example.com', 'Origin', 'https://evil.com'], false],
    ['Origin without Host', ['Origin', 'https://example.com'], false],
    ['opaque Origin', ['Host', 'example.com', 'Origin', 'null'], false],
  ];
  it.each(table)('%s → %s', (_name, raw, expected) => {
    expect(checkSameOrigin(req(raw))).toBe(expected);
  });
});
