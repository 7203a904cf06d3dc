import test from 'ava';
import { COMMANDS } from '../../cli/dist/commands/index.js';
import { COMMAND_LOADERS } from '../../cli/dist/commands/lazy.js';

test('the lazy command table names exactly the registered commands and their aliases', async (t) => {
  const expected = new Map<string, unknown>();
  for (const command of COMMANDS) for (const path of (command as { paths?: string[][] }).paths ?? []) expected.set(path[0]!, command);
  t.deepEqual(Object.keys(COMMAND_LOADERS).sort(), [...expected.keys()].sort());
  for (const [name, load] of Object.entries(COMMAND_LOADERS)) t.is(await load(), expected.get(name), name);
});
