/** `karapace list`'s work, shared by the clipanion command and the start-up fast path. */
import { listEnvs, type Engine } from '@karapace/kernel';
import { table, type Reporter } from './reporter.js';

export async function listBody(engine: Engine, reporter: Reporter): Promise<number> {
  const { environments, corrupt } = await listEnvs(engine);
  for (const path of corrupt) engine.logger.warn(`skipped corrupt metadata ${path} (run \`karapace verify-store\`)`);
  reporter.result({ environments }, () =>
    environments.length === 0
      ? 'no environments (build one with `karapace build`)'
      : table(
          ['SHORT_ID', 'NAME', 'STATE', 'BACKEND', 'BASE', 'PKGS'],
          environments.map((e) => [e.short_id, e.name ?? '-', e.state, e.backend, e.base, String(e.packages)]),
        ),
  );
  return 0;
}
