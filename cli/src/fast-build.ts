/**
 * Start-up fast path for a `build` that has work to do (a warm one is answered by
 * fast-exec.ts without loading any plugin): parsed without clipanion and run with only
 * the built-ins a build can need — the backends and the image sources — from the
 * CommonJS bundle bundle/build.cjs, which karapace.cts loads with a V8 code cache.
 * Anything unusual (help, unknown or repeated flags) goes to the full CLI, so behaviour,
 * output and messages stay the same as BuildCommand's.
 */
import { build, prestartUnpackThreads, type BuiltinPlugin } from '@karapace/kernel';
import { BACKEND_BUILTINS } from './backend-builtins.js';
import { reportBuild } from './build-output.js';
import { globalOption } from './fast-exec.js';
import { Session, type GlobalOptions } from './session.js';

export interface BuildFastPath {
  options: GlobalOptions;
  manifest?: string;
  name?: string;
  locked: boolean;
  offline: boolean;
  requirePinnedImage: boolean;
}

/** What a build may load: its backend and the image sources (remotes never take part). */
export const BUILD_BUILTINS: readonly BuiltinPlugin[] = [
  ...BACKEND_BUILTINS,
  { module: '@karapace/image-sources', load: () => import('@karapace/image-sources') },
];

const FLAGS = { '--locked': 'locked', '--offline': 'offline', '--require-pinned-image': 'requirePinnedImage' } as const;

export function parseBuildFastPath(args: string[]): BuildFastPath | undefined {
  if (args[0] !== 'build') return undefined;
  const parsed: BuildFastPath = { options: { json: false, verbose: false, trace: false }, locked: false, offline: false, requirePinnedImage: false };
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    const took = globalOption(args, i, parsed.options);
    if (took) {
      i += took - 1;
    } else if (Object.prototype.hasOwnProperty.call(FLAGS, arg)) {
      const field = FLAGS[arg as keyof typeof FLAGS];
      if (parsed[field]) return undefined;
      parsed[field] = true;
    } else if (arg === '--name' || arg.startsWith('--name=')) {
      const value = arg === '--name' ? args[++i] : arg.slice('--name='.length);
      if (value === undefined || parsed.name !== undefined || (arg === '--name' && value.startsWith('-'))) return undefined;
      parsed.name = value;
    } else if (arg.startsWith('-') || parsed.manifest !== undefined) {
      return undefined;
    } else {
      parsed.manifest = arg;
    }
  }
  return parsed;
}

/** Runs the build as BuildCommand does. */
export async function runBuildFastPath(parsed: BuildFastPath): Promise<number> {
  // A build with work to do usually begins by extracting its base image: the unpacker's
  // threads boot (~0.1 s) while the manifest, lock and store are read. Unused, they are dropped.
  prestartUnpackThreads();
  const session = new Session(parsed.options, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }, BUILD_BUILTINS);
  return session.run(async () => {
    const engine = await session.engine({ deferBuiltins: true });
    const result = await build(engine, {
      manifest: parsed.manifest, name: parsed.name, locked: parsed.locked, offline: parsed.offline, requirePinnedImage: parsed.requirePinnedImage,
    });
    reportBuild(session.reporter, result);
    return 0;
  });
}
