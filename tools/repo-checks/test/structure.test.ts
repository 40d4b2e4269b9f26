// The repository's structure, as docs/ARCHITECTURE.md states it: no import circle inside
// any package, packages import only the layers below them, and every test the design
// document cites as proof of an invariant exists.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PACKAGES = ['core-native', 'buffer-api', 'enclave', 'express-integration', 'kms-loaders', 'testkit'];
// What each package's src/ may import of ours (ARCHITECTURE.md, "Layers").
const MAY_IMPORT: Record<string, string[]> = {
  'core-native': [],
  'buffer-api': ['@strongroom/core-native'],
  enclave: ['@strongroom/buffer', '@strongroom/core-native'],
  'express-integration': ['@strongroom/buffer', '@strongroom/core-native', '@strongroom/enclave'],
  'kms-loaders': ['@strongroom/buffer', '@strongroom/core-native', '@strongroom/enclave'],
  testkit: [],
};
// The top layer: an adapter that no package of ours may depend on.
const TOP = '@strongroom/express';

function sources(pkg: string): string[] {
  const dir = path.join(ROOT, 'packages', pkg, 'src');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

/** Every module specifier a file imports or re-exports, types included. */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)].map((m) => m[1] as string);
}

/** The circles of a graph (each as its path), by depth-first search. */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, trail: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      found.push([...trail.slice(trail.indexOf(node)), node]);
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  return found;
}

describe('the import graph', () => {
  it.each(PACKAGES)('%s: no import circle among its modules (types included)', (pkg) => {
    const graph = new Map<string, string[]>();
    for (const file of sources(pkg)) {
      const local = specifiers(file)
        .filter((s) => s.startsWith('./'))
        .map((s) => path.join(path.dirname(file), s.replace(/\.js$/, '.ts')));
      graph.set(file, local);
    }
    expect(graph.size).toBeGreaterThan(2);
    expect(circles(graph).map((c) => c.map((f) => path.basename(f)).join(' -> '))).toEqual([]);
  });

  it('the circle search finds a circle when there is one (positive control)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
    ]);
    expect(circles(graph)).toEqual([['a', 'b', 'c', 'a']]);
  });

  it.each(PACKAGES)('%s: imports only the strongroom layers below it', (pkg) => {
    const ours = sources(pkg)
      .flatMap(specifiers)
      .filter((s) => s.startsWith('@strongroom/'))
      .map((s) => s.split('/').slice(0, 2).join('/'));
    expect([...new Set(ours)].filter((s) => !(MAY_IMPORT[pkg] as string[]).includes(s))).toEqual([]);
  });
});

describe('the top layer', () => {
  /**
   * Every package.json of the layers and tools (packages/*, tools/*). The benchmarks and the
   * examples are applications: they sit above every layer and may use any of them.
   */
  function manifests(): string[] {
    const folders = ['packages', 'tools'].flatMap((dir) =>
      fs.readdirSync(path.join(ROOT, dir)).map((name) => path.join(ROOT, dir, name)),
    );
    return folders
      .map((folder) => path.join(folder, 'package.json'))
      .filter((file) => fs.existsSync(file));
  }

  function dependents(files: string[]): string[] {
    return files.filter((file) => {
      const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, string> | string | undefined>;
      if (manifest['name'] === TOP) return false;
      return ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].some((field) => {
        const deps = manifest[field];
        return typeof deps === 'object' && deps !== null && Object.hasOwn(deps, TOP);
      });
    });
  }

  it(`no package depends on ${TOP}, not even for its tests`, () => {
    const files = manifests();
    expect(files.length).toBeGreaterThan(5);
    expect(files.map((file) => path.relative(ROOT, file))).toContain('packages/express-integration/package.json');
    expect(dependents(files).map((file) => path.relative(ROOT, file))).toEqual([]);
  });

  it('the dependents search finds a dependent when there is one (positive control)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-repo-checks-'));
    try {
      const file = path.join(dir, 'package.json');
      fs.writeFileSync(file, JSON.stringify({ name: 'x', devDependencies: { [TOP]: 'workspace:*' } }));
      expect(dependents([file])).toEqual([file]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/ARCHITECTURE.md', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const citations = [...doc.matchAll(/`(packages\/[\w./-]+\.test\.ts) › "([^"]+)"`/g)].map((m) => ({
    file: m[1] as string,
    title: (m[2] as string).split(' › ').at(-1) as string,
  }));

  /**
   * Whether a string literal of the file is the title (vitest's %s, %d, $name placeholders
   * and a template's ${...} match anything). Literals are read line by line: a title is on one line.
   */
  function hasTitle(text: string, title: string): boolean {
    const literals = text.split('\n').flatMap((line) => [...line.matchAll(/'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|`((?:\\.|[^`\\])*)`/g)]);
    for (const m of literals) {
      const literal = (m[1] ?? m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
      if (literal.length < 8) continue;
      const pattern = literal
        .split(/(%[sdifjo#]|\$\{[^}]*\}|\$[\w.]+)/)
        .map((part, i) => (i % 2 === 1 ? '.+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('');
      if (new RegExp(`^${pattern}$`).test(title)) return true;
    }
    return false;
  }

  it('cites tests for the invariants', () => {
    expect(citations.length).toBeGreaterThan(20);
  });

  it('every test it cites exists, in the file it names', () => {
    const missing = citations.filter(({ file, title }) => {
      const full = path.join(ROOT, file);
      return !fs.existsSync(full) || !hasTitle(fs.readFileSync(full, 'utf8'), title);
    });
    expect(missing).toEqual([]);
  });

  it('the title search misses a title that is not there (positive control)', () => {
    expect(hasTitle("it('reads a file', () => {})", 'reads a file')).toBe(true);
    expect(hasTitle("it('reads a file', () => {})", 'writes a file')).toBe(false);
    expect(hasTitle("it.each(['a'])('HMAC-%s matches', () => {})", 'HMAC-sha256 matches')).toBe(true);
    expect(hasTitle('test(`a ${size}-byte region faults`, async () => {})', 'a 1-byte region faults')).toBe(true);
  });
});
