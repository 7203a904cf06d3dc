/**
 * doctor as a kernel operation every front end reaches (CLI, D-Bus): the kernel's own checks
 * (configuration, plugins, default backend, store) and then the `doctor` hook, where each
 * plugin adds the checks of what it owns (the namespace backend its user namespaces and
 * overlay, runtime-oci its runtimes, image-sources its tools). A check is made once, by its
 * owner; nothing here merges or rewrites plugin checks.
 */
import type { DoctorCheck, DoctorReport } from '../types.js';
import { configChecks, storeChecks } from '../doctor/store-checks.js';
import type { Engine } from './engine.js';
import { defaultBackendOf } from './default-backend.js';

export interface DoctorResult extends DoctorReport {
  /** Required checks that failed: any makes doctor exit non-zero. */
  failed: string[];
  warnings: string[];
  defaultBackend: string;
}

export { defaultBackendOf } from './default-backend.js';

export async function runDoctor(engine: Engine): Promise<DoctorResult> {
  const defaultBackend = defaultBackendOf(engine.config);
  const report: DoctorReport = { checks: [...configChecks(engine), backendCheck(engine, defaultBackend), ...(await storeChecks(engine))] };
  await engine.kernel.hooks.doctor.promise(report);
  const { checks } = report;
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
