/**
 * Command name → loader, so a run loads (and clipanion compiles) only the command it
 * executes. `--help`, unknown names and introspection (completions, man pages) use the
 * full list in ./index.ts; test/cli/commands-table.test.ts keeps the two in sync.
 */
import type { BaseCommand } from '../base-command.js';

type CommandClass = (new () => BaseCommand) & { paths?: string[][] };

export const COMMAND_LOADERS: Record<string, () => Promise<CommandClass>> = {
  archive: async () => (await import('./archive.js')).ArchiveCommand,
  build: async () => (await import('./build.js')).BuildCommand,
  commit: async () => (await import('./commit.js')).CommitCommand,
  completions: async () => (await import('./completions.js')).CompletionsCommand,
  config: async () => (await import('./config.js')).ConfigCommand,
  destroy: async () => (await import('./destroy.js')).DestroyCommand,
  rm: async () => (await import('./destroy.js')).DestroyCommand,
  diff: async () => (await import('./diff.js')).DiffCommand,
  doctor: async () => (await import('./doctor.js')).DoctorCommand,
  enter: async () => (await import('./enter.js')).EnterCommand,
  exec: async () => (await import('./exec.js')).ExecCommand,
  export: async () => (await import('./export.js')).ExportCommand,
  freeze: async () => (await import('./freeze.js')).FreezeCommand,
  gc: async () => (await import('./gc.js')).GcCommand,
  inspect: async () => (await import('./inspect.js')).InspectCommand,
  list: async () => (await import('./list.js')).ListCommand,
  ls: async () => (await import('./list.js')).ListCommand,
  'man-pages': async () => (await import('./man-pages.js')).ManPagesCommand,
  migrate: async () => (await import('./migrate.js')).MigrateCommand,
  new: async () => (await import('./new.js')).NewCommand,
  pin: async () => (await import('./pin.js')).PinCommand,
  pull: async () => (await import('./pull.js')).PullCommand,
  push: async () => (await import('./push.js')).PushCommand,
  rebuild: async () => (await import('./rebuild.js')).RebuildCommand,
  rename: async () => (await import('./rename.js')).RenameCommand,
  restore: async () => (await import('./restore.js')).RestoreCommand,
  snapshots: async () => (await import('./snapshots.js')).SnapshotsCommand,
  stop: async () => (await import('./stop.js')).StopCommand,
  tui: async () => (await import('./tui.js')).TuiCommand,
  unarchive: async () => (await import('./unarchive.js')).UnarchiveCommand,
  unfreeze: async () => (await import('./unfreeze.js')).UnfreezeCommand,
  unexport: async () => (await import('./unexport.js')).UnexportCommand,
  'verify-store': async () => (await import('./verify-store.js')).VerifyStoreCommand,
};
