import { Command } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { listBody } from '../list-body.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];
  static override usage = Command.Usage({ description: 'List environments', examples: [['List as JSON', '$0 list --json']] });

  async run(): Promise<number> {
    return listBody(await this.engine(), this.reporter);
  }
}
