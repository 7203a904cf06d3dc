import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { VERSION } from '../cli.js';
import { BINARY_NAME, commandSpecs } from '../introspect.js';
import { manPages } from '../man/roff.js';

export class ManPagesCommand extends BaseCommand {
  static override paths = [['man-pages']];
  static override usage = Command.Usage({
    description: 'Write a man page per command (roff) into a directory',
    details: 'Writes karapace(1) and karapace-<command>(1) pages generated from the registered commands, so they always match this karapace. Read one with `man -l <dir>/karapace-build.1`, or install them under a `man1` directory on your MANPATH.',
    examples: [
      ['Write pages into ./man', '$0 man-pages man'],
      ['Install for the current user', '$0 man-pages ~/.local/share/man/man1'],
    ],
  });
  static completion = { dir: 'dir' as const };

  dir = Option.String({ required: false, name: 'dir' });

  async run(): Promise<number> {
    const dir = resolve(this.context.cwd, this.dir ?? 'man');
    const { COMMANDS } = await import('./index.js');
    const pages = manPages(commandSpecs(COMMANDS), VERSION, BINARY_NAME);
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const [name, content] of pages) {
      const file = join(dir, name);
      await writeFile(file, content);
      files.push(file);
    }
    this.reporter.result({ dir, pages: files }, () => `wrote ${files.length} man pages to ${dir}\nread one with: man -l ${join(dir, `${BINARY_NAME}.1`)}`);
    return 0;
  }
}
