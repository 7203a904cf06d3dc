/** dbus-next is CommonJS whose types declare no default export: load it once, typed. */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const dbus = require('dbus-next') as typeof import('dbus-next');
export default dbus;
export type MessageBus = import('dbus-next').MessageBus;
