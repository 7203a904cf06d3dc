/** Reads the workspace packages and the module specifiers their built files load. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from '../helpers/cli.js';

export interface WorkspacePackage {
  name: string;
  dir: string;
  json: { name: string; version: string; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; [k: string]: unknown };
}

export function workspacePackages(): WorkspacePackage[] {
  const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] };
  const dirs = root.workspaces.flatMap((w) =>
    w.endsWith('/*') ? readdirSync(join(REPO, w.slice(0, -2))).map((d) => join(REPO, w.slice(0, -2), d)) : [join(REPO, w)],
  );
  return dirs
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as WorkspacePackage['json'];
      return { name: json.name, dir, json };
    });
}

const PATTERNS = [
  /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from 'm', export * from 'm'
  /\bimport\s*['"]([^'"]+)['"]/g, // import 'm'
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('m')
  /(?:\b(?:require\d*|localRequire)|\.resolve)\(\s*['"]([^'"]+)['"]\s*\)/g, // require('m'), createRequire(…).resolve('m/package.json')
];

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') yield* files(path);
    } else if (/\.(?:js|mjs|cjs)$/.test(entry.name)) {
      yield path;
    }
  }
}

/** Whether a file is minified (the CommonJS fast-path bundles, whose names are mangled). */
function minified(source: string): boolean {
  return source.split('\n').some((line) => line.length > 5000);
}

/**
 * Bare module specifiers (not relative, not absolute) in a package's shipped JavaScript:
 * dist/ and top-level scripts. The minified CommonJS bundles are skipped: their modules are
 * those of the ES module bundle, which is scanned.
 */
export function* packageSpecifiers(dir: string): Generator<[spec: string, file: string]> {
  const roots = [join(dir, 'dist'), ...readdirSync(dir).filter((f) => /\.(?:js|mjs|cjs)$/.test(f)).map((f) => join(dir, f))];
  for (const root of roots) {
    if (!existsSync(root)) continue;
    for (const file of root.endsWith('dist') ? files(root) : [root]) {
      const source = readFileSync(file, 'utf8');
      if (minified(source)) continue;
      for (const pattern of PATTERNS) {
        for (const m of source.matchAll(pattern)) {
          const spec = m[1]!;
          if (spec.startsWith('.') || spec.startsWith('/') || spec.includes(' ') || spec.includes('${')) continue;
          yield [spec, relative(REPO, file)];
        }
      }
    }
  }
}
