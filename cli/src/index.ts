export { runCli, createCli, VERSION } from './cli.js';
export { BaseCommand } from './base-command.js';
export { COMMANDS } from './commands/index.js';
