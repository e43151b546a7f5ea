// `npm run fuzz`: the fuzz targets of test/fuzz/targets.ts for a fixed time budget (default 3 minutes,
// `--minutes N`), a new random seed per round. Prints any counterexample with its seed and path, exits 1.
import * as fc from 'fast-check';
import { extensionProperty, frameParserProperty, receiverProperty, upgraderProperty } from '../test/fuzz/targets';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function main(): Promise<void> {
  const deadline = Date.now() + arg('minutes', 3) * 60_000;
  const targets: Array<[string, () => Promise<fc.RunDetails<unknown>>]> = [
    ['FrameParser', async () => fc.check(frameParserProperty(), { numRuns: 20_000 }) as fc.RunDetails<unknown>],
    ['Receiver', async () => fc.check(receiverProperty(), { numRuns: 20_000 }) as fc.RunDetails<unknown>],
    ['Upgrader', async () => (await fc.check(upgraderProperty(), { numRuns: 3_000 })) as fc.RunDetails<unknown>],
    ['extension header', async () => fc.check(extensionProperty(), { numRuns: 20_000 }) as fc.RunDetails<unknown>],
  ];
  const totals = new Map<string, number>();
  let failures = 0;
  let round = 0;
  while (Date.now() < deadline) {
    round++;
    for (const [name, run] of targets) {
      const details = await run();
      totals.set(name, (totals.get(name) ?? 0) + details.numRuns);
      if (details.failed) {
        failures++;
        console.log(`FAIL ${name} (seed ${details.seed}, path ${details.counterexamplePath ?? ''})`);
        console.log(fc.defaultReportMessage(details));
      }
    }
    process.stdout.write(`round ${round}: ${[...totals].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
  console.log(failures === 0 ? 'fuzz: no counterexample found' : `fuzz: ${failures} failing round(s)`);
  process.exit(failures === 0 ? 0 : 1);
}

void main();
