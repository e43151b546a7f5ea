// The package as npm ships it. A copy of the repository without dist/ (what a fresh clone has) is packed with
// `npm pack` (so `prepack` must build), the tarball is installed into a fresh project with `npm install
// <tarball>` (offline: wsflow has no dependencies), and there CommonJS, ESM and TypeScript consumers
// (node16, nodenext, bundler, legacy node10 resolution) use `wsflow` and every other subpath listed in
// package.json "exports", and the `wsflow` command runs from node_modules/.bin. Also checks the tarball's file
// list and size, and that `npm publish --dry-run` has nothing to warn about.
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Upper bounds of the tarball, with room to grow: a jump past them means `files` took in something new. */
const MAX_PACKED_BYTES = 400_000;
const MAX_UNPACKED_BYTES = 1_500_000;

/** What the tarball may contain: the library's build, the ESM wrappers and the top-level documents. */
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^CHANGELOG\.md$/, /^esm\/[\w-]+\.mjs$/, /^dist\/src\/[\w/.-]+(?<!\.d)\.js$/, /^dist\/src\/[\w/.-]+\.d\.ts$/];

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

type ExportTarget = string | { [condition: string]: ExportTarget };
interface Manifest {
  version: string;
  exports: Record<string, ExportTarget>;
  typesVersions?: Record<string, Record<string, string[]>>;
}

let temp: string;
let repo: string;
let app: string;
let pack: PackResult;
let manifest: Manifest;
/** The subpath exports to exercise, as import specifiers: 'wsflow', 'wsflow/standard', … */
let specifiers: string[];
const children = new Set<ChildProcess>();

/** npm's own lifecycle variables (set when jest runs under `npm test`) must not leak into the nested npm runs. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') || k.startsWith('npm_config_')) env[k] = v;
  return env;
}

function npm(args: string[], cwd: string): { stdout: string; stderr: string } {
  const result = spawnSync(NPM, args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: 150_000 });
  if (result.status !== 0) {
    throw new Error(`npm ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  return { stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  temp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsflow-packaging-'));
  // The repository as a fresh clone has it: no dist/, so only `prepack` can put the library in the tarball.
  repo = path.join(temp, 'repo');
  const skip = new Set(['node_modules', 'dist', '.git', '.bench-tmp', 'coverage', path.join('bench', '.build')]);
  fs.cpSync(ROOT, repo, { recursive: true, filter: (src) => !skip.has(path.relative(ROOT, src)) });
  // prepack runs tsc from the dev dependencies.
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(repo, 'node_modules'), 'dir');
  const out = path.join(temp, 'tarball');
  fs.mkdirSync(out);
  pack = (JSON.parse(npm(['pack', '--json', '--pack-destination', out], repo).stdout) as PackResult[])[0];

  app = path.join(temp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  npm(['install', path.join(out, pack.filename), '--offline', '--no-audit', '--no-fund', '--no-package-lock'], app);
  manifest = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/wsflow/package.json'), 'utf8')) as Manifest;
  specifiers = Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'wsflow' : `wsflow/${key.slice(2)}`));
}, 240_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (temp) fs.rmSync(temp, { recursive: true, force: true });
});

function targets(target: ExportTarget): string[] {
  return typeof target === 'string' ? [target] : Object.values(target).flatMap(targets);
}

function sourceModules(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) return sourceModules(path.join(dir, entry.name), `${rel}/`);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [rel.slice(0, -3)] : [];
  });
}

describe('the tarball', () => {
  test('ships exactly the library build, the ESM wrappers, README, LICENSE and CHANGELOG', () => {
    const files = pack.files.map((f) => f.path).sort();
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) expect(files).toContain(f);
    // Every module of src/ is there, compiled, with its types; no more, no less.
    const modules = sourceModules(path.join(repo, 'src'));
    const built = files.filter((f) => f.startsWith('dist/src/'));
    expect(built.sort()).toEqual(modules.flatMap((m) => [`dist/src/${m}.d.ts`, `dist/src/${m}.js`]).sort());
    // Every file an export, `main`, `types` or `bin` points at is in it.
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { main: string; types: string; bin: Record<string, string> };
    const pointed = [...Object.values(manifest.exports).flatMap(targets), pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const target of pointed) expect(files).toContain(path.posix.normalize(target));
    expect(fs.readFileSync(path.join(app, 'node_modules/wsflow/LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the wsflow authors/);
  });

  test('stays small', () => {
    expect(pack.size).toBeLessThan(MAX_PACKED_BYTES);
    expect(pack.unpackedSize).toBeLessThan(MAX_UNPACKED_BYTES);
  });

  test('npm publish --dry-run has nothing to warn about', () => {
    // Packing already ran prepack (the build); the dry run only checks the manifest and the contents.
    const { stdout, stderr } = npm(['publish', '--dry-run', '--ignore-scripts', '--offline'], repo);
    const warnings = `${stdout}\n${stderr}`
      .split('\n')
      .filter((line) => /\bwarn\b/i.test(line))
      // Not being logged in to the registry is this machine's state, not the package's.
      .filter((line) => !/requires you to be logged in/.test(line));
    expect(warnings).toEqual([]);
    expect(stdout).toContain(`wsflow@${manifest.version}`);
  });

  test('every subpath export has types for legacy node10 resolution (typesVersions)', () => {
    const mapped = Object.keys(manifest.typesVersions?.['*'] ?? {});
    const subpaths = specifiers.filter((s) => s !== 'wsflow').map((s) => s.slice('wsflow/'.length));
    expect(subpaths.filter((s) => !mapped.includes(s))).toEqual([]);
  });
});

function run(file: string, source: string): string {
  const full = path.join(app, file);
  fs.writeFileSync(full, source);
  const result = spawnSync(process.execPath, [full], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`node ${file} failed (${result.status ?? result.signal}):\n${result.stderr}`);
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

describe('runtime consumers of the installed package', () => {
  test('ESM: every subpath export gives the same named exports as its CommonJS side, the same objects', () => {
    const out = run(
      'names.mjs',
      `import { createRequire } from 'module';
       const require = createRequire(import.meta.url);
       const report = {};
       for (const specifier of ${JSON.stringify(specifiers)}) {
         const esm = await import(specifier);
         const cjs = require(specifier);
         const names = Object.keys(cjs);
         report[specifier] = {
           some: names.length > 0,
           missing: names.filter((k) => !(k in esm)),
           different: names.filter((k) => k in esm && esm[k] !== cjs[k]),
           defaultIsCjs: esm.default === cjs,
         };
       }
       console.log(JSON.stringify(report));`,
    );
    const report = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(specifiers);
    for (const s of specifiers) expect([s, report[s]]).toEqual([s, { some: true, missing: [], different: [], defaultIsCjs: true }]);
  });

  test('ESM: named imports from wsflow and wsflow/standard, and a round trip', () => {
    const out = run(
      'app.mjs',
      `import { Upgrader, WebSocketServer, connect, StandardWebSocket, createByteDuplex } from 'wsflow';
       import { WebSocket as Std, CloseEvent, WebSocketStream } from 'wsflow/standard';
       ${ROUND_TRIP}
       console.log(JSON.stringify({
         upgrader: typeof new Upgrader().upgrade,
         same: StandardWebSocket === Std,
         duplex: typeof createByteDuplex, stream: typeof WebSocketStream, closeEvent: new CloseEvent('close', { code: 1000 }).code,
         message: m.data.toString(),
       }));`,
    );
    expect(JSON.parse(out)).toEqual({ upgrader: 'function', same: true, duplex: 'function', stream: 'function', closeEvent: 1000, message: 'round trip' });
  });

  test('CommonJS: require of every subpath export, and a round trip', () => {
    const out = run(
      'app.cjs',
      `const { Upgrader, WebSocketServer, connect, StandardWebSocket } = require('wsflow');
       const standard = require('wsflow/standard');
       const loaded = ${JSON.stringify(specifiers)}.map((s) => Object.keys(require(s)).length > 0);
       (async () => {
         ${ROUND_TRIP}
         console.log(JSON.stringify({ upgrader: typeof Upgrader, std: standard.WebSocket === StandardWebSocket, loaded, message: m.data.toString() }));
       })();`,
    );
    expect(JSON.parse(out)).toEqual({ upgrader: 'function', std: true, loaded: specifiers.map(() => true), message: 'round trip' });
  });
});

describe('TypeScript consumers of the installed package', () => {
  /** Type-checks `files` in a new folder of the consumer project; resolves with tsc's output ('' when clean). */
  function typecheck(options: Record<string, unknown>, files: Record<string, string>): Promise<string> {
    const sub = fs.mkdtempSync(path.join(app, 'types-'));
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
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [TSC, '-p', sub], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(output.trim()));
    });
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
  const IMPORTS = `import { Upgrader, StandardWebSocket, type WebSocketStream } from 'wsflow';
    import { WebSocket as Std } from 'wsflow/standard';`;
  // Every subpath must resolve to declarations: an unresolved one is error TS2307, an untyped one TS7016.
  const everySubpath = (): string => specifiers.map((s, i) => `import * as m${i} from '${s}';\nvoid m${i};`).join('\n');

  test('node16 and nodenext (.mts import and .cts require), bundler and legacy node10 resolution', async () => {
    const cts = (): string => `${IMPORTS}
      import wsflow = require('wsflow');
      const u: typeof Upgrader = wsflow.Upgrader;
      void u;
      ${everySubpath()}
      ${USE}`;
    const esm = (): string => `${IMPORTS}\n${everySubpath()}\n${USE}`;
    const legacy = `${IMPORTS}\n${USE}`;
    const outputs = await Promise.all([
      typecheck({ module: 'node16', moduleResolution: 'node16' }, { 'esm.mts': esm(), 'cjs.cts': cts() }),
      typecheck({ module: 'nodenext', moduleResolution: 'nodenext' }, { 'esm.mts': esm(), 'cjs.cts': cts() }),
      typecheck({ module: 'esnext', moduleResolution: 'bundler' }, { 'bundled.ts': esm() }),
      // node10 sees no "exports": subpaths resolve through typesVersions (checked for every subpath above).
      typecheck({ module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, { 'legacy.ts': `${legacy}\n${everySubpath()}` }),
    ]);
    expect(outputs).toEqual(['', '', '', '']);
  }, 180_000);
});

describe('the wsflow command from node_modules/.bin', () => {
  const BIN = (): string => path.join(app, 'node_modules/.bin', process.platform === 'win32' ? 'wsflow.cmd' : 'wsflow');

  test('--help and --version', () => {
    const help = spawnSync(BIN(), ['--help'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: wsflow <command>/);
    const version = spawnSync(BIN(), ['--version'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(version.stdout.trim()).toBe(`wsflow ${manifest.version}`);
  });

  test('serve, then connect through a pipe: the echo comes back', async () => {
    const server = spawn(BIN(), ['serve', '--addr', '127.0.0.1:0', '--quiet'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(server);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const match = /ws:\/\/127\.0\.0\.1:\d+\/echo/.exec(out);
          if (match) resolve(match[0]);
        });
        server.once('exit', (code) => reject(new Error(`wsflow serve exited (${code}): ${out}`)));
      });
      const client = spawnSync(BIN(), ['connect', url, '--wait', '300'], { cwd: app, input: 'hello\nfrom the tarball\n', encoding: 'utf8', timeout: 60_000 });
      expect([client.status, client.stdout]).toEqual([0, 'hello\nfrom the tarball\n']);
    } finally {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
    }
  }, 90_000);
});
