// Property-based fuzzing of the decoder, the message assembler, the handshake and the extension header,
// at a modest number of runs. `npm run fuzz` runs the same targets for minutes.
import * as fc from 'fast-check';
import { extensionProperty, frameParserProperty, receiverProperty, upgraderProperty } from '../fuzz/targets';

const runs = Number(process.env.FUZZ_RUNS ?? 300);

describe('fuzz (fast-check)', () => {
  test('FrameParser: arbitrary bytes, arbitrary splits → frames or a typed close code', () => {
    fc.assert(frameParserProperty(), { numRuns: runs * 3 });
  });
  test('Receiver: messages within maxPayload, valid UTF-8, typed errors only', () => {
    fc.assert(receiverProperty(), { numRuns: runs * 3 });
  });
  test('Upgrader: any header set settles as 101 or a 4xx HandshakeError, never a throw or a 500', async () => {
    await fc.assert(upgraderProperty(), { numRuns: runs });
  }, 60_000);
  test('extension header parser and negotiation never throw', () => {
    fc.assert(extensionProperty(), { numRuns: runs * 3 });
  });
});
