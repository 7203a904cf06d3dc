/** Connects to the session bus, claims org.karapace.Manager1 and serves until stopped. */
import dbus, { type MessageBus } from './dbus.js';
import { StoreError, RuntimeFailure, type EngineOptions } from '@karapace/kernel';
import { BUS_NAME, ManagerInterface, OBJECT_PATH } from './manager.js';

export interface ServiceOptions extends EngineOptions {
  /** Bus address (default: $DBUS_SESSION_BUS_ADDRESS). */
  busAddress?: string;
}

export interface RunningService {
  bus: MessageBus;
  stop(): Promise<void>;
}

export async function startService(options: ServiceOptions = {}): Promise<RunningService> {
  const address = options.busAddress ?? options.env?.DBUS_SESSION_BUS_ADDRESS ?? process.env.DBUS_SESSION_BUS_ADDRESS;
  if (!address) {
    throw new RuntimeFailure('KP_DBUS_NO_BUS', 'no session bus: DBUS_SESSION_BUS_ADDRESS is not set', {
      hint: 'run it inside a desktop session, under `dbus-run-session`, or let the D-Bus activation file start it',
    });
  }
  const bus = dbus.sessionBus({ busAddress: address });
  await new Promise<void>((resolve, reject) => {
    bus.once('connect', () => resolve());
    bus.once('error', reject);
  });
  const iface = new ManagerInterface(options);
  bus.export(OBJECT_PATH, iface);
  const reply = await bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
    bus.disconnect();
    throw new StoreError('KP_DBUS_NAME_TAKEN', `${BUS_NAME} is already owned on this bus`, { hint: 'another karapace-dbus is running; talk to it instead' });
  }
  return {
    bus,
    async stop() {
      try {
        await bus.releaseName(BUS_NAME);
      } finally {
        bus.disconnect();
      }
    },
  };
}
