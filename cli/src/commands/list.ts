import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { listBody, listPage } from '../list-body.js';

export class ListCommand extends BaseCommand {
  static override paths = [['list'], ['ls']];
  static override usage = Command.Usage({
    description: 'List environments',
    details: 'Oldest first. `--limit` and `--offset` show a page of a large store: only those rows are read and asked whether they run.',
    examples: [['List as JSON', '$0 list --json'], ['The first 50', '$0 list --limit 50'], ['The next 50', '$0 list --offset 50 --limit 50']],
  });

  limit = Option.String('--limit', { description: 'Show at most this many environments' });
  offset = Option.String('--offset', { description: 'Skip this many environments first' });

  async run(): Promise<number> {
    const page = listPage(this.limit, this.offset);
    return listBody(await this.engine(), this.reporter, page);
  }
}
