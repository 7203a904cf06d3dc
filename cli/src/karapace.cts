#!/usr/bin/env node
/**
 * The `karapace` executable, the one entry point. fast-dispatch.cts reads the command line
 * (global options anywhere); `exec` and `enter` — what developers run all day — and a warm
 * `build` take a CommonJS bundle of just what they need, compiled with a V8 code cache
 * (Node 20 has none for ES modules), so it starts in little more than Node's own start-up;
 * `push` and `pull` take another such bundle with only the HTTP remote plugin, a build
 * with work to do one with the backends and the image sources, and `commit` and `restore`
 * one with only the backends. Everything else loads the
 * full ES-module CLI.
 */
import fs = require('node:fs');
import path = require('node:path');
import vm = require('node:vm');
import Module = require('node:module');
import FastDispatch = require('./fast-dispatch.cjs');

type FastArgs = FastDispatch.FastArgs;

interface FastBundle {
  useModuleImporter(importer: (url: string) => Promise<unknown>): void;
  runFastPath(parsed: FastArgs, plan?: FastDispatch.PlanRequest): Promise<number | undefined>;
}

/**
 * The native front door (native/front-door.c) hands a command over with the place of the
 * exec plan it wants written; its variables are its own, never part of what runs.
 */
const planRequest = FastDispatch.takePlanRequest(process.env);
const args = process.argv.slice(2);
/** The command line as a fast path reads it, or undefined for the full CLI. */
const parsed = FastDispatch.dispatch(args);

/** A short, stable key for where a bundle is installed (FNV-1a: no crypto module to load). */
function installKey(file: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < file.length; i++) h = Math.imul(h ^ file.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

// Caches of other installs (a global and a project-local CLI) are kept, so using both in
// turn does not recompile on every run; those unused this long belong to installs gone.
const OTHER_INSTALL_CACHE_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** `<cache>/karapace/<name>-<install>-<size>-<mtime>.v8cache`: one per install and build of the bundle. */
function cacheFile(name: string, file: string, stat: fs.Stats): string {
  const key = `${installKey(file)}-${stat.size.toString(36)}-${Math.floor(stat.mtimeMs).toString(36)}`;
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(require('node:os').homedir(), '.cache');
  return path.join(base, 'karapace', `${name}-${key}.v8cache`);
}

/**
 * Removes caches that are never used again: this install's earlier builds of the bundle,
 * and any cache of the bundle unused for OTHER_INSTALL_CACHE_MAX_AGE_MS.
 */
function pruneCaches(name: string, file: string, current: string): void {
  const dir = path.dirname(current);
  const sameInstall = `${name}-${installKey(file)}-`;
  const now = Date.now();
  for (const entry of fs.readdirSync(dir)) {
    if (!entry.startsWith(`${name}-`) || !entry.endsWith('.v8cache') || entry === path.basename(current)) continue;
    const p = path.join(dir, entry);
    if (entry.startsWith(sameInstall) || now - fs.statSync(p).mtimeMs > OTHER_INSTALL_CACHE_MAX_AGE_MS) fs.rmSync(p, { force: true });
  }
}

/** Loads bundle/<name>.cjs through vm.Script with cached compiled code; refreshes the cache when V8 rejects it. */
function loadFastBundle(name: string, file: string): { bundle: FastBundle; saveCache: () => void } {
  const stat = fs.statSync(file);
  const cache = cacheFile(name, file, stat);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cache);
  } catch {
    cachedData = undefined;
  }
  const source = fs.readFileSync(file, 'utf8');
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
  });
  const mod = { exports: {} as FastBundle };
  const localRequire = Module.createRequire(file);
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, localRequire, mod, file, path.dirname(file));
  const fresh = cachedData === undefined || script.cachedDataRejected === true;
  return {
    bundle: mod.exports,
    saveCache: () => {
      if (!fresh) return;
      try {
        // After the run, so functions compiled while running are in the cache too.
        const data = script.createCachedData();
        fs.mkdirSync(path.dirname(cache), { recursive: true });
        const tmp = `${cache}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, data);
        fs.renameSync(tmp, cache);
        pruneCaches(name, file, cache);
      } catch {
        // A cache we cannot write only costs start-up time.
      }
    },
  };
}

/**
 * A build with no karapace.lock where its manifest's lock would be cannot be answered from the
 * lock (exec.cjs's warm build needs one), so it skips exec.cjs for build.cjs. The manifest is
 * the path given (default karapace.toml) or, when that names a directory, its karapace.toml
 * (manifestPathFrom, kernel engine/build.ts): the lock is looked for beside both, so a build
 * that has one is never sent past the warm path.
 */
function cannotBeWarm(p: FastArgs): boolean {
  if (p.command !== 'build') return false;
  const given = path.resolve(process.cwd(), p.positionals.manifest ?? 'karapace.toml');
  return !fs.existsSync(path.join(path.dirname(given), 'karapace.lock')) && !fs.existsSync(path.join(given, 'karapace.lock'));
}

/** Runs exec, enter, a build, push or pull from a CommonJS bundle; undefined when the full CLI must handle the input. */
async function fastPath(): Promise<number | undefined> {
  if (!parsed) return undefined;
  // The bundles that serve the command, tried in order (their code caches are named after them).
  for (const name of FastDispatch.FAST_COMMANDS[parsed.command]!.bundles) {
    if (name === 'exec' && cannotBeWarm(parsed)) continue;
    const file = path.join(__dirname, `${name}.cjs`);
    if (!fs.existsSync(file)) return undefined;
    const { bundle, saveCache } = loadFastBundle(name, file);
    // A script compiled by vm.Script has no import(); config plugins are imported from here.
    bundle.useModuleImporter((url) => import(url));
    const code = await bundle.runFastPath(parsed, planRequest);
    saveCache();
    if (code !== undefined) return code;
  }
  return undefined;
}

fastPath().then(
  async (code) => {
    // A fast path is done once it returns (its child processes have ended, its records are
    // cleaned up): skip Node's teardown of the environment and the heap, which costs start-up
    // time for exec and grows with the bytes moved for push/pull. stdout and stderr are
    // synchronous on Linux, so nothing written is lost.
    if (code !== undefined) process.exit(code);
    // The ES-module CLI reads process.argv and sets the exit code itself.
    else await import(require('node:url').pathToFileURL(path.join(__dirname, 'karapace.js')).href);
  },
  (err: unknown) => {
    process.stderr.write(`karapace: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
