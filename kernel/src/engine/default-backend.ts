/** Apart from doctor.ts so the runtime backends can ask it without loading the doctor (runtime.ts). */

/** The backend manifests get when they name none (what plugins make their checks required for). */
export function defaultBackendOf(config: { defaultBackend?: string }): string {
  return (config.defaultBackend ?? 'namespace').toLowerCase();
}
