/**
 * The `install` hook: refresh (unless offline), install, then ask the package database for
 * the exact versions that ended up installed. Commands run inside the environment as
 * container root through `request.run`, i.e. through the environment's backend. Output is
 * captured (so `--json` stays one document) and forwarded as progress log lines.
 */
import { RuntimeFailure, type InstallRequest, type InstallResult, type Kernel, type SpawnResult } from '@karapace/kernel';
import { log, startTask, type Task } from '../progress.js';
import { adapterFor } from './detect.js';
import type { PackageManagerAdapter } from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9+._:@-]*$/;

function tail(text: string, n = 25): string {
  return text.split('\n').filter(Boolean).slice(-n).join('\n');
}

/** Feeds the adapter's progress lines, as they arrive, to the task: percent never goes back. */
function progressFeed(adapter: PackageManagerAdapter, task: Task): ((stream: 'stdout' | 'stderr', chunk: string) => void) | undefined {
  const parse = adapter.progress?.();
  if (!parse) return undefined;
  const partial = { stdout: '', stderr: '' };
  let percent = 0;
  return (stream, chunk) => {
    const text = partial[stream] + chunk;
    const parts = text.split('\n');
    partial[stream] = parts.pop()!;
    for (const line of parts) {
      const p = parse(line);
      if (!p) continue;
      percent = Math.max(percent, p.percent);
      task.advance(percent, 100, p.stage);
    }
  };
}

async function step(kernel: Kernel | undefined, request: InstallRequest, adapter: PackageManagerAdapter, argv: string[], what: string, task?: Task): Promise<SpawnResult> {
  log(kernel, 'debug', `${adapter.name}: ${argv.join(' ')}`);
  const onOutput = task ? progressFeed(adapter, task) : undefined;
  const raw = await request.run(argv, { capture: true, environment: adapter.environment, ...(onOutput ? { onOutput } : {}) });
  const drop = (text: string | undefined) => (adapter.isProgressLine ? (text ?? '').split('\n').filter((l) => !adapter.isProgressLine!(l)).join('\n') : text ?? '');
  const result: SpawnResult = { exitCode: raw.exitCode, stdout: drop(raw.stdout), stderr: drop(raw.stderr) };
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  for (const line of output.split('\n')) if (line.trim()) log(kernel, 'debug', `${adapter.name}: ${line}`);
  if (result.exitCode !== 0) {
    if (request.offline && adapter.needsNetwork(output)) {
      throw new RuntimeFailure('KP_OFFLINE_DOWNLOAD', `--offline was given but ${what} needs to download packages (${adapter.name} exited ${result.exitCode})`, {
        hint: 'environments keep no package downloads (they are cleaned after each install): an offline build installs only what the base image itself caches; drop --offline',
        data: { argv, output: tail(output) },
      });
    }
    throw new RuntimeFailure('KP_PM_FAILED', `${what} failed: \`${argv.join(' ')}\` exited ${result.exitCode}\n${tail(output)}`, {
      hint: 'check the package names and versions for this distribution, and that the mirror is reachable',
      data: { argv, exitCode: result.exitCode, output: tail(output) },
    });
  }
  return result;
}

/**
 * The package manager's downloads and index are not part of the environment. A failure
 * here leaves a bigger upper dir, not a broken one: a warning, not an error.
 */
async function cleanCaches(kernel: Kernel | undefined, request: InstallRequest, adapter: PackageManagerAdapter): Promise<void> {
  for (const argv of adapter.clean()) {
    log(kernel, 'debug', `${adapter.name}: ${argv.join(' ')}`);
    const result = await request.run(argv, { capture: true, environment: adapter.environment });
    if (result.exitCode !== 0) {
      log(kernel, 'warn', `cleaning ${adapter.name}'s caches failed (\`${argv.join(' ')}\` exited ${result.exitCode}); the environment keeps them: ${tail(`${result.stdout ?? ''}${result.stderr ?? ''}`, 3)}`);
    }
  }
}

export async function installPackages(kernel: Kernel | undefined, request: InstallRequest): Promise<InstallResult | undefined> {
  const adapter = adapterFor(request.packageManager);
  if (!adapter) return undefined;
  for (const p of request.packages) {
    if (!NAME.test(p)) {
      throw new RuntimeFailure('KP_PM_PACKAGE_INVALID', `"${p}" is not a valid package name`, { hint: 'fix the name in [system] packages' });
    }
  }
  // Percent of the whole: the configuration and the index refresh, then the install command (its own progress
  // lines where the adapter has them), then cleaning and the version query.
  const task = startTask(kernel, `installing ${request.packages.length} package(s) with ${adapter.name}`, 100, 'items');
  try {
    for (const argv of adapter.configure?.() ?? []) await step(kernel, request, adapter, argv, `configuring ${adapter.name}`);
    if (!request.offline) {
      task.advance(0, 100, 'updating package lists');
      await step(kernel, request, adapter, adapter.refresh(), `${adapter.name} refresh`);
    }
    task.advance(0, 100, adapter.progress ? 'downloading packages' : 'installing packages');
    await step(kernel, request, adapter, adapter.install(request.packages, request.pinned, { offline: request.offline }), `installing ${request.packages.join(', ')}`, task);
    task.advance(100, 100, 'cleaning caches');
    await cleanCaches(kernel, request, adapter);
    const queried = await request.run(adapter.query(request.packages), { capture: true, environment: adapter.environment });
    const installed = adapter.parseQuery(queried.stdout ?? '');
    const wanted = new Set(request.packages);
    const packages = installed.filter((p) => wanted.has(p.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
    const missing = request.packages.filter((p) => !packages.some((q) => q.name === p));
    if (missing.length) {
      throw new RuntimeFailure('KP_PM_MISSING_VERSIONS', `${adapter.name} installed but does not list: ${missing.join(', ')}`, {
        hint: 'a name may be a virtual package; name the real package in [system] packages',
        data: { output: tail(`${queried.stdout ?? ''}${queried.stderr ?? ''}`) },
      });
    }
    if (request.pinned) {
      const off = packages.filter((p) => request.pinned![p.name] && request.pinned![p.name] !== p.version);
      if (off.length) {
        throw new RuntimeFailure('KP_PM_VERSION_MISMATCH', `installed versions differ from the lock: ${off.map((p) => `${p.name} ${p.version} (locked ${request.pinned![p.name]})`).join(', ')}`, {
          hint: 'the mirror no longer serves the locked version; build without --locked to update the lock',
        });
      }
    }
    task.end(true);
    return { packages };
  } catch (err) {
    task.end(false, (err as Error).message.split('\n')[0]);
    throw err;
  }
}
