/** @karapace/dbus — Karapace as a D-Bus service on the session bus. See README.md. */
export { startService, type ServiceOptions, type RunningService } from './service.js';
export { ManagerInterface, BUS_NAME, OBJECT_PATH, INTERFACE_NAME } from './manager.js';
export { ERROR_PREFIX, errorName, toDBusError } from './errors.js';
