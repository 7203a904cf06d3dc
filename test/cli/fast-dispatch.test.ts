/**
 * The start-up dispatcher (cli/src/fast-dispatch.cts) against the clipanion commands: the
 * options it knows are the commands' own, it splits `exec`/`enter` command lines exactly as
 * clipanion does, and global options anywhere keep the fast paths of the executable.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import FastDispatch from '../../cli/dist/fast-dispatch.cjs';
import { createCli } from '../../cli/dist/cli.js';
import { COMMAND_LOADERS } from '../../cli/dist/commands/lazy.js';
import { mockManifest, runBundled, sandbox } from '../helpers/cli.js';

const { dispatch, commandFirst, FAST_COMMANDS, GLOBAL_OPTIONS } = FastDispatch;
const opts = { json: false, verbose: false, trace: false };

test('exec and enter take global options anywhere before the command; what follows is the command', (t) => {
  t.deepEqual(dispatch(['exec', 'dev', '--', 'git', '--version']), { command: 'exec', global: opts, options: {}, positionals: { env: 'dev' }, rest: ['git', '--version'] });
  t.deepEqual(dispatch(['--store', '/s', 'exec', '--json', 'dev', '-v', 'ls', '-l', '--json']), {
    command: 'exec', global: { json: true, verbose: true, trace: false, store: '/s' }, options: {}, positionals: { env: 'dev' }, rest: ['ls', '-l', '--json'],
  });
  t.deepEqual(dispatch(['exec', 'dev', '--json', '--', 'true'])!.global, { ...opts, json: true });
  t.deepEqual(dispatch(['exec', 'dev', '--', '--json'])!.rest, ['--json']);
  t.deepEqual(dispatch(['-v', 'exec', 'dev', '--', 'a', '--', 'b'])!.rest, ['a', '--', 'b']);
  t.is(dispatch(['exec', '--store=/x', '--trace', 'e', '--', 'true'])!.global.store, '/x');
  t.deepEqual(dispatch(['enter', 'dev']), { command: 'enter', global: opts, options: {}, positionals: { env: 'dev' }, rest: [] });
  t.deepEqual(dispatch(['--store', '/s', 'enter', 'dev', '-v', '--', 'sh', '-c', 'x']), {
    command: 'enter', global: { ...opts, verbose: true, store: '/s' }, options: {}, positionals: { env: 'dev' }, rest: ['sh', '-c', 'x'],
  });
  t.deepEqual(dispatch(['--store', '/s', 'list'])!.global.store, '/s');
  for (const args of [[], ['list', 'x'], ['list', '--all'], ['exec'], ['exec', 'dev'], ['exec', 'dev', '--'], ['exec', '--help'], ['exec', 'dev', '-h', 'true'],
    ['exec', '--unknown', 'dev', 'true'], ['exec', 'dev', '--root', 'true'], ['exec', '--store'], ['exec', '--json', '--json', 'dev', 'true'], ['--json=1', 'exec', 'dev', 'x'],
    ['exec', '--', 'dev', 'true'], ['enter'], ['enter', 'dev', 'sh', '-c', 'x'], ['enter', '--help', 'dev'], ['-v'], ['--version'], ['--store', '/s']]) {
    t.is(dispatch(args), undefined, args.join(' '));
  }
});

/** clipanion's definition string of each option (`--store #0`, `--verbose,-v`). */
async function clipanionOptions(command: string): Promise<Map<string, 'boolean' | 'string'>> {
  const cli = await createCli([(await COMMAND_LOADERS[command]!()) as never]);
  const map = new Map<string, 'boolean' | 'string'>();
  for (const o of cli.definitions()[0]!.options) {
    const [names, arity] = o.definition.split(' ');
    map.set(names!, arity ? 'string' : 'boolean');
  }
  return map;
}

test('the dispatcher knows only options the clipanion commands declare, with the same arity', async (t) => {
  for (const [command, def] of Object.entries(FAST_COMMANDS)) {
    const declared = await clipanionOptions(command);
    for (const option of [...GLOBAL_OPTIONS, ...def.options]) {
      t.is(declared.get(option.flags.join(',')), option.kind, `${command} ${option.flags.join(',')}`);
    }
    // An option a command gained since (or help) is not the dispatcher's: the full CLI handles it.
    for (const [names, kind] of declared) {
      const flag = names.split(',')[0]!;
      if ([...GLOBAL_OPTIONS, ...def.options].some((o) => o.flags.includes(flag))) continue;
      const args = [command, ...(kind === 'string' ? [flag, 'x'] : [flag]), 'a', 'b'];
      t.is(dispatch(args), undefined, args.join(' '));
    }
  }
});

test('exec and enter split their arguments as the clipanion commands do', async (t) => {
  const cli = await createCli([(await COMMAND_LOADERS.exec!()) as never, (await COMMAND_LOADERS.enter!()) as never]);
  const cases = [
    ['exec', 'dev', '--json', '--', 'true'], ['exec', 'dev', 'ls', '-l', '--json'], ['exec', '--json', 'dev', '--', 'ls'], ['exec', 'dev', '--', '--json'],
    ['--store', '/s', '-v', 'exec', 'dev', 'true'], ['exec', 'dev', '--store=/s', '--trace', 'sh', '-c', 'exit 3'], ['--json', 'exec', 'dev', '--', 'a', '--', 'b'],
    ['enter', 'dev'], ['enter', '-v', 'dev', '--', 'htop', '-d', '5'], ['--store', 's', 'enter', 'dev', 'sh'], ['enter', 'dev', 'sh', '--trace'],
  ];
  for (const args of cases) {
    const fast = dispatch(args);
    t.truthy(fast, args.join(' '));
    const command = cli.process(commandFirst(args, (n) => n in COMMAND_LOADERS)) as unknown as Record<string, unknown>;
    t.deepEqual(
      { env: command.env, command: command.command, json: command.json, store: command.store, verbose: command.verbose, trace: command.trace },
      { env: fast!.positionals.env, command: fast!.rest, ...fast!.global, store: fast!.global.store },
      args.join(' '),
    );
  }
});

test('global options before the command name keep the executable on its fast paths', async (t) => {
  const box = sandbox('kp-fast-dispatch-');
  t.teardown(() => rmSync(box.dir, { recursive: true, force: true }));
  box.write('karapace.toml', mockManifest());
  await box.json(['build', '--name', 'dev']);
  // -v names the plugins loaded: the fast path loads only the env's backend, the full CLI all of them.
  const fastPlugins = /plugins: karapace:core, runtime-mock\n/;
  for (const args of [['--store', box.store, '-v', 'exec', 'dev', '--', 'sh', '-c', 'echo hi'], ['-v', 'exec', 'dev', 'sh', '-c', 'echo hi'], ['exec', 'dev', '-v', '--', 'sh', '-c', 'echo hi']]) {
    const r = await runBundled(box, args);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'hi\n');
    t.regex(r.stderr, fastPlugins, args.join(' '));
  }
  const json = await runBundled(box, ['--store', box.store, 'exec', 'dev', '--json', '-v', '--', 'sh', '-c', 'echo hi; exit 4']);
  t.is(json.code, 4);
  t.deepEqual(JSON.parse(json.stdout), { exit_code: 4, stdout: 'hi\n', stderr: '' });
  t.regex(json.stderr, fastPlugins);
  const enter = await runBundled(box, ['-v', 'enter', 'dev', '--', 'sh', '-c', 'exit 5']);
  t.is(enter.code, 5, enter.stderr);
  t.regex(enter.stderr, fastPlugins);
  // The full CLI reads the same command lines the same way.
  for (const args of [['--store', box.store, 'exec', 'dev', '--json', '--', 'sh', '-c', 'echo hi; exit 4'], ['-v', 'exec', 'dev', '--', 'sh', '-c', 'exit 6']]) {
    const fast = await runBundled(box, args);
    const full = await box.run(args);
    t.is(fast.code, full.code, args.join(' '));
    t.is(fast.stdout, full.stdout, args.join(' '));
  }
  t.regex((await box.run(['-v'])).stdout, /^\d+\.\d+\.\d+/, 'a lone -v is still --version');
  t.regex((await box.run(['--store', box.store, '-v', 'list'])).stdout, /dev/);
  // list: only the backends its rows name (here the mock's), the same output as the full CLI.
  for (const args of [['--store', box.store, 'list'], ['ls', '--json']]) {
    const fast = await runBundled(box, [...args, '-v']);
    const full = await box.run(args);
    t.is(fast.code, 0, fast.stderr);
    t.is(fast.stdout, full.stdout, args.join(' '));
    t.regex(fast.stderr, /plugins: karapace:core, runtime-mock\n/, args.join(' '));
  }
  const enterJson = await runBundled(box, ['enter', '--json', 'dev']);
  t.is(enterJson.code, 2);
  t.regex(enterJson.stderr, /KP_ENTER_JSON/);
});
