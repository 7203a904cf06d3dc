/** Every command the CLI offers. Only commands that work are listed here (and in --help). */
import { BuildCommand } from './build.js';
import { DestroyCommand } from './destroy.js';
import { EnterCommand } from './enter.js';
import { ExecCommand } from './exec.js';
import { InspectCommand } from './inspect.js';
import { ListCommand } from './list.js';
import { PullCommand } from './pull.js';
import { PushCommand } from './push.js';
import { RebuildCommand } from './rebuild.js';
import { RenameCommand } from './rename.js';
import { StopCommand } from './stop.js';

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
  PushCommand,
  PullCommand,
];
