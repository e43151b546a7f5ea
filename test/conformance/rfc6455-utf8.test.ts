// RFC 6455 §5.6 and §8.1: text messages must be UTF-8; an invalid one fails the connection with 1007.
// Every sequence of Markus Kuhn's UTF-8 stress test (plus Autobahn-style ones), sent whole, one byte per
// write, one frame per byte, and as two fragments at every split point. Invalid sequences must fail
// fast: once the fragment holding the first bad byte is in, the Close 1007 must come before anything
// more is sent (no FIN is ever sent in that case). Both roles over both transports, the same cases over
// each (the client role runs a representative subset); HTTP/2 costs about what HTTP/1.1 does here.
import { OP, forEachRole, useHarness, utf8Text, type Harness, type RawPeer } from './driver';
import { UTF8_STRESS, firstBadByte, utf8Prefix, type Utf8Case } from './fixtures/utf8-stress';

const VALID = UTF8_STRESS.filter((c) => c.valid);
const INVALID = UTF8_STRESS.filter((c) => !c.valid);
// The client role runs a representative subset.
const CLIENT_SUBSET = new Set(['1', '2.1.4', '2.3.4', '5.3.1', 'A.1', 'A.2', '2.1.5', '2.3.5', '3.1.1', '3.2.1', '3.4', '3.5.3', '4.1.3', '4.3.1', '5.1.1', '5.2.1', 'A.4', 'A.9', 'A.10', 'A.11']);

const bytesOf = (c: Utf8Case): Buffer => Buffer.from(c.bytes);
const label = (c: Utf8Case): string => `${c.id} ${c.description}`;

describe('fixture: the stress-test table agrees with an independent checker and with TextDecoder', () => {
  test.each(UTF8_STRESS.map((c) => [label(c), c] as const))('%s', (_name, c) => {
    const { validPrefix, complete } = utf8Prefix(c.bytes);
    expect(validPrefix === c.bytes.length && complete).toBe(c.valid);
    let decodes = true;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytesOf(c));
    } catch {
      decodes = false;
    }
    expect(decodes).toBe(c.valid);
  });
});

/** Sends `pieces` as the fragments of one text message; when `stopAfter` is given, only that many, none with FIN. */
function textFragments(peer: RawPeer, pieces: Buffer[], stopAfter?: number): Buffer[] {
  if (stopAfter === undefined) return peer.fragments(OP.TEXT, pieces);
  return pieces.slice(0, stopAfter).map((p, i) => peer.frame(i === 0 ? OP.TEXT : OP.CONT, p, { fin: false }));
}

/**
 * Sends an invalid sequence cut into `pieces` (one fragment each) and expects 1007. When the first bad
 * byte lies in a fragment before the last, only the fragments up to it are sent (without FIN) and the
 * Close must arrive before anything else is.
 */
async function expectInvalid(h: Harness, c: Utf8Case, pieces: Buffer[]): Promise<void> {
  const peer = await h.peer();
  const bad = firstBadByte(c.bytes);
  let fragmentsToSend: number | undefined;
  if (bad < c.bytes.length) {
    let offset = 0;
    for (let i = 0; i < pieces.length; i++) {
      offset += pieces[i].length;
      if (offset > bad) {
        fragmentsToSend = i + 1;
        break;
      }
    }
  }
  await peer.send(textFragments(peer, pieces, fragmentsToSend));
  await peer.expectFailure(1007);
  peer.destroy();
}

forEachRole((role, transport) => {
  const valid = role === 'server' ? VALID : VALID.filter((c) => CLIENT_SUBSET.has(c.id));
  const invalid = role === 'server' ? INVALID : INVALID.filter((c) => CLIENT_SUBSET.has(c.id));
  const h = useHarness(role, { transport });
  const table = (cases: Utf8Case[], minLength = 0) =>
    cases.filter((c) => c.bytes.length >= minLength).map((c) => [label(c), c] as const);

  describe('§8.1 valid UTF-8 → echoed', () => {
    test.each(table(valid))('%s: one frame, one write', async (_n, c) => {
      const peer = await h.peer();
      await peer.send(peer.text(bytesOf(c)));
      await peer.expectEcho(OP.TEXT, bytesOf(c));
    });
    test.each(table(valid, 2))('%s: one frame, one byte per write', async (_n, c) => {
      const peer = await h.peer();
      await peer.send(peer.text(bytesOf(c)), 'bytes');
      await peer.expectEcho(OP.TEXT, bytesOf(c));
    });
    test.each(table(valid, 2))('%s: one frame per byte', async (_n, c) => {
      const peer = await h.peer();
      await peer.send(peer.fragments(OP.TEXT, c.bytes.map((b) => Buffer.from([b]))));
      await peer.expectEcho(OP.TEXT, bytesOf(c));
    });
    test.each(table(valid, 2))('%s: two fragments, split at every byte', async (_n, c) => {
      const peer = await h.peer();
      const bytes = bytesOf(c);
      for (let i = 1; i < bytes.length; i++) {
        await peer.send(peer.fragments(OP.TEXT, [bytes.subarray(0, i), bytes.subarray(i)]), 'random');
      }
      for (let i = 1; i < bytes.length; i++) await peer.expectEcho(OP.TEXT, bytes);
    });
  });

  describe('§8.1 invalid UTF-8 → 1007, failing fast', () => {
    test.each(table(invalid))('%s: one frame, one write', async (_n, c) => {
      await expectInvalid(h, c, [bytesOf(c)]);
    });
    test.each(table(invalid, 2))('%s: one frame, one byte per write', async (_n, c) => {
      const peer = await h.peer();
      await peer.send(peer.text(bytesOf(c)), 'bytes');
      await peer.expectFailure(1007);
    });
    test.each(table(invalid, 2))('%s: one frame per byte, Close before the fragment after the bad byte', async (_n, c) => {
      await expectInvalid(h, c, c.bytes.map((b) => Buffer.from([b])));
    });
    test.each(table(invalid, 2))('%s: two fragments, split at every byte', async (_n, c) => {
      const bytes = bytesOf(c);
      for (let i = 1; i < bytes.length; i++) await expectInvalid(h, c, [bytes.subarray(0, i), bytes.subarray(i)]);
    });
    test.each([
      ['at the start', 0],
      ['in the middle', 50_000],
      ['at the end', 99_999],
    ])('a 100 KB text message with one bad byte %s → 1007 (whole, and in 7 fragments)', async (_where, at) => {
      const bytes = Buffer.from(utf8Text(100_000));
      bytes[at] = 0xff;
      const whole = await h.peer();
      await whole.send(whole.text(bytes), 'random');
      await whole.expectFailure(1007);
      const fragmented = await h.peer();
      await fragmented.send(fragmented.fragments(OP.TEXT, [0, 1, 2, 3, 4, 5, 6].map((i) => bytes.subarray(i * 14_286, (i + 1) * 14_286))));
      await fragmented.expectFailure(1007);
    });
    test.each(table(invalid))('%s: after a valid fragmented message, behind valid text', async (_n, c) => {
      const peer = await h.peer();
      await peer.send(peer.fragments(OP.TEXT, [Buffer.from('κό'), Buffer.from('σμε')]));
      await peer.expectEcho(OP.TEXT, 'κόσμε');
      const bytes = Buffer.concat([Buffer.from('ok '), bytesOf(c)]);
      await peer.send(peer.text(bytes));
      await peer.expectFailure(1007);
    });
  });
});
