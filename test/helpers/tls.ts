import * as fs from 'fs';
import { makeCert } from './certs';

/**
 * A throw-away self-signed certificate for localhost and 127.0.0.1 as PEM strings (see `makeCert`; its
 * directory is removed at once), or null when openssl is missing.
 */
export function makeCertificate(): { key: string; cert: string } | null {
  let made: ReturnType<typeof makeCert>;
  try {
    made = makeCert();
  } catch {
    return null;
  }
  try {
    return { key: made.key.toString('utf8'), cert: made.cert.toString('utf8') };
  } finally {
    fs.rmSync(made.dir, { recursive: true, force: true });
  }
}
