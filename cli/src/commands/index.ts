/** Every command the CLI offers. Only commands that work are listed here (and in --help). */
import { BuildCommand } from './build.js';
import { CompletionsCommand } from './completions.js';
import { ConfigCommand } from './config.js';
import { DestroyCommand } from './destroy.js';
import { EnterCommand } from './enter.js';
import { ExecCommand } from './exec.js';
import { InspectCommand } from './inspect.js';
import { ListCommand } from './list.js';
import { ManPagesCommand } from './man-pages.js';
import { DoctorCommand } from './doctor.js';
import { NewCommand } from './new.js';
import { ExportCommand } from './export.js';
import { UnexportCommand } from './unexport.js';
import { TuiCommand } from './tui.js';
import { PinCommand } from './pin.js';
import { PullCommand } from './pull.js';
import { PushCommand } from './push.js';
import { RebuildCommand } from './rebuild.js';
import { RenameCommand } from './rename.js';
import { StopCommand } from './stop.js';
import { CommitCommand } from './commit.js';
import { RestoreCommand } from './restore.js';
import { SnapshotsCommand } from './snapshots.js';
import { DiffCommand } from './diff.js';
import { FreezeCommand } from './freeze.js';
import { ArchiveCommand } from './archive.js';
import { UnfreezeCommand } from './unfreeze.js';
import { UnarchiveCommand } from './unarchive.js';
import { GcCommand } from './gc.js';
import { VerifyStoreCommand } from './verify-store.js';
import { MigrateCommand } from './migrate.js';

export const COMMANDS = [
  BuildCommand,
  RebuildCommand,
  EnterCommand,
  ExecCommand,
  DestroyCommand,
  StopCommand,
  ListCommand,
  InspectCommand,
  RenameCommand,
  PinCommand,
  PushCommand,
  PullCommand,
  CompletionsCommand,
  ManPagesCommand,
  DoctorCommand,
  ConfigCommand,
  NewCommand,
  ExportCommand,
  UnexportCommand,
  TuiCommand,
  CommitCommand,
  SnapshotsCommand,
  RestoreCommand,
  DiffCommand,
  FreezeCommand,
  UnfreezeCommand,
  ArchiveCommand,
  UnarchiveCommand,
  GcCommand,
  VerifyStoreCommand,
  MigrateCommand,
];
