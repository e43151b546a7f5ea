// Throw-away TLS certificates for tests, made by the openssl CLI in a temp dir: a self-signed
// certificate for localhost and 127.0.0.1, used both as the server's certificate and as the CA to trust.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TestCert {
  dir: string;
  keyPath: string;
  certPath: string;
  key: Buffer;
  cert: Buffer;
}

/** A new self-signed EC certificate for `localhost`/127.0.0.1/::1 in a fresh temp dir; remove `dir` when done. */
export function makeCert(name = 'localhost'): TestCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-cert-'));
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1,IP:::1`,
    ],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return { dir, keyPath, certPath, key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath) };
}
