/**
 * doctor: plugin checks (the kernel's `doctor` hook) plus the core checks. Usable without
 * the CLI: returns the report; the caller decides the exit code from `failed`.
 */
import type { DoctorCheck, DoctorReport, Engine } from '@karapace/kernel';
import { formatFix, install } from './fixes.js';
import { DISTRO_FIXES, EQUIVALENT_CHECKS, prerequisiteChecks } from './prerequisites.js';
import { configChecks, storeChecks } from './store.js';

export interface DoctorResult extends DoctorReport {
  /** Required checks that failed: any makes doctor exit non-zero. */
  failed: string[];
  warnings: string[];
  defaultBackend: string;
}

/** Plugin checks that check the same thing as the core check `coreId`. */
function equivalents(coreId: string, checks: DoctorCheck[]): DoctorCheck[] {
  const pattern = EQUIVALENT_CHECKS[coreId];
  return pattern ? checks.filter((c) => c.plugin !== 'core' && pattern.test(c.id)) : [];
}

export async function runDoctor(engine: Engine): Promise<DoctorResult> {
  const report: DoctorReport = { checks: [] };
  await engine.kernel.hooks.doctor.promise(report);
  const defaultBackend = (engine.config.defaultBackend ?? 'namespace').toLowerCase();
  const core: DoctorCheck[] = [
    ...configChecks(engine),
    backendCheck(engine, defaultBackend),
    ...(await storeChecks(engine)),
    ...prerequisites(report.checks, engine.env, defaultBackend),
  ];
  const checks = [...core, ...report.checks];
  return {
    checks,
    failed: checks.filter((c) => c.required && c.status === 'fail').map((c) => c.id),
    warnings: checks.filter((c) => c.status !== 'ok' && !(c.required && c.status === 'fail')).map((c) => c.id),
    defaultBackend,
  };
}

function backendCheck(engine: Engine, name: string): DoctorCheck {
  const known = engine.kernel.backends;
  const ok = known.includes(name);
  return {
    id: 'core.default-backend', title: `Default backend "${name}"`, required: false, plugin: 'core',
    status: ok ? 'ok' : 'warn',
    detail: ok ? `registered (backends: ${known.join(', ')})` : `not registered by any plugin (backends: ${known.join(', ') || 'none'})`,
    ...(ok ? {} : { fix: `install the plugin that provides "${name}", set "defaultBackend" in your config to one of: ${known.join(', ') || '(none)'}, or name a backend in each manifest` }),
  };
}

/**
 * A plugin that checks the same thing knows its backend better: keep its check and drop
 * ours, but make sure a failed one says how to fix it on every distribution we support.
 */
function prerequisites(pluginChecks: DoctorCheck[], env: NodeJS.ProcessEnv, defaultBackend: string): DoctorCheck[] {
  const kept: DoctorCheck[] = [];
  for (const core of prerequisiteChecks({ env, defaultBackend })) {
    const same = equivalents(core.id, pluginChecks);
    if (same.length === 0) {
      kept.push(core);
      continue;
    }
    for (const c of same) {
      const fix = fixFor(core.id, c);
      if (c.status !== 'ok' && fix && !/Fedora/.test(c.fix ?? '')) c.fix = c.fix ? `${c.fix}\n${fix}` : fix;
    }
  }
  return kept;
}

/**
 * The distribution fix to add to a plugin's check. A check of one OCI runtime gets the
 * install line of that runtime when it is missing (crun and runc are packaged everywhere;
 * youki is not, the plugin says where to get it), and none when it is installed but cannot
 * run (installing it again would not help).
 */
function fixFor(coreId: string, c: DoctorCheck): string | undefined {
  const runtime = coreId === 'core.oci-runtime' ? /oci-runtime-([a-z]+)$/.exec(c.id)?.[1] : undefined;
  if (!runtime) return DISTRO_FIXES[coreId];
  if (runtime !== 'crun' && runtime !== 'runc') return undefined;
  return /^not installed/.test(c.detail ?? '') ? formatFix(install({ debian: runtime, fedora: runtime, opensuse: runtime, arch: runtime })) : undefined;
}
