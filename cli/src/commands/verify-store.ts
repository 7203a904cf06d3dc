import { Command } from 'clipanion';
import { ExitCode, verifyStore } from '@karapace/kernel';
import { BaseCommand } from '../base-command.js';

export class VerifyStoreCommand extends BaseCommand {
  static override paths = [['verify-store']];
  static override usage = Command.Usage({
    description: 'Re-hash every object, layer, metadata file and image in the store; exit 3 naming each bad item',
    examples: [['Check the store', '$0 verify-store']],
  });

  async run(): Promise<number> {
    const engine = await this.engine();
    const r = await verifyStore(engine);
    this.reporter.result(r, () => {
      const c = r.checked;
      const summary = `checked ${c.objects} objects, ${c.layers} layers (${c.trees} from trees), ${c.metadata} metadata files, ${c.images} images`;
      if (r.ok) return `${summary}: store is healthy`;
      return [...r.problems.map((p) => `BAD ${p.kind} ${p.path}: ${p.message}`), `${summary}: ${r.problems.length} problem(s)`,
        'hint: rebuild or pull the affected environments; `karapace gc` removes unreferenced damaged items'].join('\n');
    });
    return r.ok ? 0 : ExitCode.Store;
  }
}
