/**
 * What a backend can enforce. A backend declares them when it registers
 * (`kernel.registerBackend({ name, capabilities, … })`); a manifest asking for one its backend
 * lacks is refused at build (KP_BACKEND_UNSUPPORTED) instead of silently ignored.
 */
export const BACKEND_CAPABILITIES = Object.freeze([
  /** A read-only root for frozen environments (`karapace freeze`). */
  'readOnlyRoot',
  /** `[mounts]`: host directories bound into the environment. */
  'mounts',
  /** `[runtime] network_isolation = true`: no network but loopback. */
  'networkIsolation',
  /** `[runtime.resource_limits]`: memory and CPU limits. */
  'resourceLimits',
  /** `[hardware] gpu`/`audio`: host devices passed in. */
  'devices',
  /** `karapace enter`: an interactive terminal. */
  'tty',
] as const);

export type BackendCapability = (typeof BACKEND_CAPABILITIES)[number];
export type BackendCapabilities = Readonly<Partial<Record<BackendCapability, boolean>>>;
