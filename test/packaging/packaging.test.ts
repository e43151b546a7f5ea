// The published entry points: `import` and `require` of 'wsflow' and 'wsflow/standard' from a consumer's
// point of view (a temp project with node_modules/wsflow linked to this repo), at run time and for the
// type checker under both module systems. Uses the build in dist/ (`pretest` builds it; built here if missing).
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
let dir: string;

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist/src/index.js')) || !fs.existsSync(path.join(ROOT, 'dist/src/standard/index.js'))) {
    execFileSync(process.execPath, [TSC, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-packaging-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules/wsflow'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function run(file: string, source: string): string {
  const full = path.join(dir, file);
  fs.writeFileSync(full, source);
  const result = spawnSync(process.execPath, [full], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`node ${file} failed (${result.status}):\n${result.stderr}`);
  return result.stdout.trim();
}

const ROUND_TRIP = `
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, (ws) => {
    void (async () => { for await (const m of ws) await ws.writeMessage(m.data, m.type); })().catch(() => {});
  });
  const { port } = await wss.listen();
  const ws = await connect('ws://127.0.0.1:' + port);
  await ws.writeMessage('round trip');
  const m = await ws.readMessage();
  await ws.close();
  await wss.close();
`;

describe('runtime entry points', () => {
  test('ESM: named imports from wsflow and wsflow/standard, and a round trip', () => {
    const out = run(
      'app.mjs',
      `import { Upgrader, WebSocketServer, connect, WebSocket, StandardWebSocket, createByteDuplex } from 'wsflow';
       import wsflow from 'wsflow';
       import { WebSocket as Std, CloseEvent, WebSocketStream } from 'wsflow/standard';
       import { createRequire } from 'module';
       const cjs = createRequire(import.meta.url)('wsflow');
       ${ROUND_TRIP}
       console.log(JSON.stringify({
         upgrader: typeof new Upgrader().upgrade,
         same: cjs.WebSocket === WebSocket && wsflow.Upgrader === Upgrader && StandardWebSocket === Std,
         duplex: typeof createByteDuplex, stream: typeof WebSocketStream, closeEvent: new CloseEvent('close', { code: 1000 }).code,
         names: Object.keys(cjs).filter((k) => !(k in wsflow)).length,
         message: m.data.toString(),
       }));`,
    );
    expect(JSON.parse(out)).toEqual({
      upgrader: 'function',
      same: true,
      duplex: 'function',
      stream: 'function',
      closeEvent: 1000,
      names: 0,
      message: 'round trip',
    });
  });

  test('ESM: every CommonJS export is a named ESM export', () => {
    const out = run(
      'names.mjs',
      `import * as esm from 'wsflow';
       import * as std from 'wsflow/standard';
       import { createRequire } from 'module';
       const require = createRequire(import.meta.url);
       const missing = [
         ...Object.keys(require('wsflow')).filter((k) => !(k in esm)),
         ...Object.keys(require('wsflow/standard')).filter((k) => !(k in std)),
       ];
       console.log(JSON.stringify(missing));`,
    );
    expect(JSON.parse(out)).toEqual([]);
  });

  test('CommonJS: require of wsflow and wsflow/standard, and a round trip', () => {
    const out = run(
      'app.cjs',
      `const { Upgrader, WebSocketServer, connect, StandardWebSocket } = require('wsflow');
       const standard = require('wsflow/standard');
       (async () => {
         ${ROUND_TRIP}
         console.log(JSON.stringify({ upgrader: typeof Upgrader, std: standard.WebSocket === StandardWebSocket, message: m.data.toString() }));
       })();`,
    );
    expect(JSON.parse(out)).toEqual({ upgrader: 'function', std: true, message: 'round trip' });
  });
});

describe('types for both module systems', () => {
  function typecheck(options: Record<string, unknown>, files: Record<string, string>): string {
    const sub = fs.mkdtempSync(path.join(dir, 'types-'));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(sub, name), text);
    fs.writeFileSync(
      path.join(sub, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          target: 'ES2022',
          lib: ['ES2022'],
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          ...options,
        },
        files: Object.keys(files),
      }),
    );
    // The consumer project sits under the one with node_modules/wsflow, so resolution goes through package.json "exports".
    const result = spawnSync(process.execPath, [TSC, '-p', sub], { encoding: 'utf8', timeout: 120_000 });
    return `${result.stdout}${result.stderr}`.trim();
  }

  const USE = `
    const upgrader = new Upgrader({ maxPayload: 1024 });
    const ws: StandardWebSocket | null = null;
    const std: typeof Std = StandardWebSocket;
    const stream: WebSocketStream | null = null;
    void [upgrader, ws, std, stream];
    // @ts-expect-error maxPayload is a number
    new Upgrader({ maxPayload: 'big' });
  `;

  test('node16: an .mts (import) and a .cts (require) file type-check', () => {
    const out = typecheck(
      { module: 'node16', moduleResolution: 'node16' },
      {
        'esm.mts': `import { Upgrader, StandardWebSocket, type WebSocketStream } from 'wsflow';
                    import { WebSocket as Std } from 'wsflow/standard';
                    ${USE}`,
        'cjs.cts': `import { Upgrader, StandardWebSocket, type WebSocketStream } from 'wsflow';
                    import { WebSocket as Std } from 'wsflow/standard';
                    import wsflow = require('wsflow');
                    const u: typeof Upgrader = wsflow.Upgrader;
                    void u;
                    ${USE}`,
      },
    );
    expect(out).toBe('');
  }, 120_000);

  test('legacy node10 resolution finds wsflow/standard through typesVersions', () => {
    const out = typecheck(
      { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
      {
        'legacy.ts': `import { Upgrader, StandardWebSocket, type WebSocketStream } from 'wsflow';
                      import { WebSocket as Std } from 'wsflow/standard';
                      ${USE}`,
      },
    );
    expect(out).toBe('');
  }, 120_000);

  test('bundler resolution (import condition) type-checks', () => {
    const out = typecheck(
      { module: 'esnext', moduleResolution: 'bundler' },
      {
        'bundled.ts': `import { Upgrader, StandardWebSocket, type WebSocketStream } from 'wsflow';
                       import { WebSocket as Std } from 'wsflow/standard';
                       ${USE}`,
      },
    );
    expect(out).toBe('');
  }, 120_000);
});
