import * as fs from 'fs';
import * as path from 'path';

/** The start and end markers of a named section: `<!-- name:start -->` … `<!-- name:end -->`. */
export function sectionMarkers(name: string): { start: string; end: string } {
  return { start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` };
}

/**
 * Replaces the body between the markers of section `name` in the Markdown file `file`, leaving the
 * rest of the file as it was. A missing file is created from `intro`; a missing section is appended.
 * Several benchmarks can thus share one document, each owning its own section.
 */
export function writeMarkdownSection(file: string, name: string, body: string, intro: string): void {
  const { start, end } = sectionMarkers(name);
  const block = `${start}\n${body.trim()}\n${end}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${intro.trim()}\n`;
  const from = text.indexOf(start);
  const to = from < 0 ? -1 : text.indexOf(end, from + start.length);
  if (from >= 0 && to >= 0) {
    text = text.slice(0, from) + block + text.slice(to + end.length);
  } else {
    if (from >= 0 || text.includes(end)) throw new Error(`${file}: unbalanced markers for section "${name}"`);
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Write to a temporary file and rename, so an interrupted run never leaves half a document.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
