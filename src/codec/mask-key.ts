import { randomFillSync } from 'crypto';

// Masking keys must be unpredictable to the application (RFC 6455 §5.3, §10.3), so they come from the
// CSPRNG. One randomFillSync call per 1,024 keys keeps the cost per frame to a 4-byte copy.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** Copies a fresh crypto-random 4-byte masking key into `target` at `offset`. */
export function writeMaskKey(target: Buffer, offset: number): void {
  if (poolOffset === POOL_SIZE) {
    randomFillSync(pool, 0, POOL_SIZE);
    poolOffset = 0;
  }
  target[offset] = pool[poolOffset];
  target[offset + 1] = pool[poolOffset + 1];
  target[offset + 2] = pool[poolOffset + 2];
  target[offset + 3] = pool[poolOffset + 3];
  poolOffset += 4;
}
