// Every ```ts block of docs/*.md and README.md is type-checked against the repository's own types, so no
// sample rots. Each block is one module ('wsflow' maps to src/index.ts, 'wsflow/standard' to
// src/standard/index.ts, 'wsflow/redis' to src/brokers/redis.ts; other packages resolve from node_modules),
// compiled in memory with top-level await allowed. A block whose info string is `ts no-check` is skipped.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '../..');
const VIRTUAL_DIR = path.join(ROOT, 'test/docs/__samples__');

interface Sample {
  doc: string;
  line: number;
  code: string;
  file: string;
}

/** The ```ts blocks of a Markdown file, with the line their code starts on (1-based). */
export function extractSamples(doc: string, text: string): Array<{ line: number; code: string; skip: boolean }> {
  const out: Array<{ line: number; code: string; skip: boolean }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]+)?(.*)$/.exec(lines[i] as string);
    if (open === null) continue;
    const [, indent, fence, lang = '', rest] = open as unknown as [string, string, string, string | undefined, string];
    const start = i + 1;
    let end = start;
    while (end < lines.length && !(lines[end] as string).trimStart().startsWith(fence)) end++;
    if (lang === 'ts' || lang === 'typescript') {
      const code = lines
        .slice(start, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join('\n');
      out.push({ line: start + 1, code, skip: /\bno-check\b/.test(rest) });
    }
    if (end >= lines.length) throw new Error(`${doc}:${i + 1}: unterminated code block`);
    i = end;
  }
  return out;
}

function collect(): { samples: Sample[]; skipped: number } {
  const docs = [
    'README.md',
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  const samples: Sample[] = [];
  let skipped = 0;
  for (const doc of docs) {
    for (const block of extractSamples(doc, fs.readFileSync(path.join(ROOT, doc), 'utf8'))) {
      if (block.skip) {
        skipped++;
        continue;
      }
      const file = path.join(VIRTUAL_DIR, `${doc.replace(/[/.]/g, '_')}_L${block.line}.ts`);
      // `export {}` makes every block a module: its own scope, and top-level await allowed.
      samples.push({ doc, line: block.line, code: `${block.code}\nexport {};\n`, file });
    }
  }
  return { samples, skipped };
}

const { samples } = collect();

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  strict: true,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  baseUrl: ROOT,
  paths: {
    wsflow: ['src/index.ts'],
    'wsflow/standard': ['src/standard/index.ts'],
    'wsflow/redis': ['src/brokers/redis.ts'],
  },
};

let diagnosticsByFile: Map<string, readonly ts.Diagnostic[]>;

beforeAll(() => {
  const inMemory = new Map(samples.map((s) => [s.file, s.code]));
  const host = ts.createCompilerHost(options, true);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => inMemory.get(path.resolve(f)) ?? readFile(f);
  host.fileExists = (f) => inMemory.has(path.resolve(f)) || fileExists(f);
  host.getSourceFile = (f, languageVersion, onError, shouldCreate) => {
    const code = inMemory.get(path.resolve(f));
    return code !== undefined ? ts.createSourceFile(f, code, languageVersion, true) : getSourceFile(f, languageVersion, onError, shouldCreate);
  };
  const program = ts.createProgram(
    samples.map((s) => s.file),
    options,
    host,
  );
  diagnosticsByFile = new Map();
  for (const s of samples) {
    const source = program.getSourceFile(s.file);
    if (source === undefined) throw new Error(`${s.file} was not compiled`);
    diagnosticsByFile.set(s.file, [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]);
  }
}, 120_000);

test('the docs have code samples', () => {
  expect(samples.length).toBeGreaterThan(10);
});

test.each(samples.map((s) => [`${s.doc}:${s.line}`, s] as const))('%s compiles', (_where, sample) => {
  const diagnostics = diagnosticsByFile.get(sample.file) ?? [];
  const messages = diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${sample.doc}:${sample.line + line}:${character + 1}: TS${d.code}: ${text}`;
  });
  expect(messages).toEqual([]);
});

// docs/integrations.md shows the code test/conformance/integrations.test.ts runs: keep them identical.
test.each(['http', 'express', 'fastify', 'koa'])('docs/integrations.md shows examples/integrations/%s.ts', (name) => {
  const source = fs.readFileSync(path.join(ROOT, `examples/integrations/${name}.ts`), 'utf8');
  const body = source
    .split('\n')
    .filter((line, i, all) => !(line.startsWith('//') && all.slice(0, i).every((l) => l.startsWith('//'))))
    .join('\n')
    .trim()
    .replace("'../../src'", "'wsflow'");
  expect(fs.readFileSync(path.join(ROOT, 'docs/integrations.md'), 'utf8')).toContain('```ts\n' + body + '\n```');
});

// docs/api.md has a `### \`name\`` entry for every export of every entry point, so the reference cannot fall behind.
const ENTRY_POINTS = ['src/index.ts', 'src/standard/index.ts', 'src/brokers/redis.ts'];
test('docs/api.md documents every export of wsflow, wsflow/standard and wsflow/redis', () => {
  const program = ts.createProgram(ENTRY_POINTS.map((e) => path.join(ROOT, e)), {
    ...options,
    paths: undefined,
    baseUrl: undefined,
  });
  const checker = program.getTypeChecker();
  const names = new Set<string>();
  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(path.join(ROOT, entry));
    const symbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (symbol === undefined) throw new Error(`${entry} has no module symbol`);
    for (const exported of checker.getExportsOfModule(symbol)) names.add(exported.getName());
  }
  const api = fs.readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');
  const documented = new Set([...api.matchAll(/^### `([\w$]+)`/gm)].map((m) => m[1]));
  // The standard entry point's browser names are documented under their wsflow names.
  const aliases: Record<string, string> = { WebSocketError: 'WebSocketStreamError' };
  const missing = [...names].filter((n) => !documented.has(n) && !documented.has(aliases[n] ?? ''));
  expect(missing).toEqual([]);
});
