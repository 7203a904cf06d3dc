import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandbox } from '../helpers/cli.js';
import { buildMock, hasTool, karapaceOnPath } from './helpers.js';

/** Sources the script in a real bash and asks the completion function for each word list. */
function complete(script: string, env: NodeJS.ProcessEnv, lines: string[][]): string[][] {
  const calls = lines.map((words) => {
    const arr = words.map((w) => `'${w}'`).join(' ');
    return `COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _karapace; echo "R:\${COMPREPLY[*]}"`;
  });
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source ${JSON.stringify(script)} && complete -p karapace && ${calls.join(' && ')}`], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash failed (${r.status}): ${r.stderr}`);
  const out = r.stdout.split('\n');
  if (!out[0]!.includes('-F _karapace karapace')) throw new Error(`complete -p: ${out[0]}`);
  return out.filter((l) => l.startsWith('R:')).map((l) => l.slice(2).split(' ').filter(Boolean));
}

test('bash completion offers the commands, aliases, flags and a built environment\'s name', async (t) => {
  const box = sandbox('kp-compl-');
  const bin = karapaceOnPath(box);
  const env = await buildMock(box, 'proj', 'devbox');
  const gen = await box.run(['completions', 'bash']);
  t.is(gen.code, 0, gen.stderr);
  const script = box.write('karapace.bash', gen.stdout);
  const shellEnv = { ...box.env, PATH: `${bin}:${process.env.PATH}` };
  const [all, ex, execEnv, renamePrefix, buildFlags, shells] = complete(script, shellEnv, [
    ['karapace', ''],
    ['karapace', 'ex'],
    ['karapace', 'exec', ''],
    ['karapace', 'rename', 'dev'],
    ['karapace', 'build', '--lo'],
    ['karapace', 'completions', ''],
  ]);
  for (const cmd of ['build', 'exec', 'destroy', 'list', 'ls', 'doctor', 'completions', 'tui', 'export']) t.true(all!.includes(cmd), `missing ${cmd}`);
  t.deepEqual(ex!.sort(), ['exec', 'export']);
  t.true(execEnv!.includes('devbox'));
  t.true(execEnv!.includes(env.short_id));
  t.deepEqual(renamePrefix, ['devbox']);
  t.deepEqual(buildFlags, ['--locked']);
  t.deepEqual(shells, ['bash', 'zsh', 'fish']);
});

test('bash completion honours --store on the command line', async (t) => {
  const box = sandbox('kp-compl-');
  const bin = karapaceOnPath(box);
  await buildMock(box, 'other', 'elsewhere');
  const script = box.write('karapace.bash', (await box.run(['completions', 'bash'])).stdout);
  // No KARAPACE_STORE: only --store on the line can find the environment.
  const { KARAPACE_STORE: _s, ...rest } = box.env;
  const [withStore, without] = complete(script, { ...rest, HOME: box.dir, PATH: `${bin}:${process.env.PATH}` }, [
    ['karapace', 'destroy', '--store', box.store, ''],
    ['karapace', 'destroy', ''],
  ]);
  t.true(withStore!.includes('elsewhere'));
  t.false(without!.includes('elsewhere'));
});

test('zsh and fish scripts name every command; unknown shells are usage errors', async (t) => {
  const box = sandbox('kp-compl-');
  const zsh = await box.run(['completions', 'zsh']);
  const fish = await box.run(['completions', 'fish']);
  t.regex(zsh.stdout, /^#compdef karapace/);
  for (const cmd of ['verify-store', 'man-pages', 'unexport']) {
    t.true(zsh.stdout.includes(`'${cmd}:`), `zsh lacks ${cmd}`);
    t.true(fish.stdout.includes(`-a '${cmd}'`), `fish lacks ${cmd}`);
  }
  const bad = await box.run(['completions', 'tcsh']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unsupported shell "tcsh"/);
  // Both shells parse what we generate (scripts/system-packages.txt installs them: no silent skip).
  t.true(hasTool('zsh'), 'zsh is not installed (.ci/run installs it)');
  t.true(hasTool('fish'), 'fish is not installed (.ci/run installs it)');
  const zshCheck = spawnSync('zsh', ['-n', '-c', zsh.stdout], { encoding: 'utf8' });
  t.is(zshCheck.status, 0, zshCheck.stderr);
  const fishCheck = spawnSync('fish', ['--no-execute', '-c', fish.stdout], { encoding: 'utf8' });
  t.is(fishCheck.status, 0, fishCheck.stderr);
});

test('man-pages writes a page per command that man -l renders', async (t) => {
  if (!hasTool('man')) {
    t.log('man (man-db) is not installed; .ci/run installs it');
    t.fail('man missing');
    return;
  }
  const box = sandbox('kp-man-');
  const r = await box.json(['man-pages', 'man']);
  const dir = join(box.dir, 'man');
  const files = readdirSync(dir).sort();
  t.true(files.includes('karapace.1'));
  t.true(files.includes('karapace-build.1'));
  t.true(files.includes('karapace-doctor.1'));
  t.is(r.pages.length, files.length);
  const env = { ...process.env, MANWIDTH: '80', PAGER: 'cat', MANPAGER: 'cat' };
  for (const page of ['karapace.1', 'karapace-exec.1', 'karapace-completions.1']) {
    const out = spawnSync('man', ['-l', join(dir, page)], { env, encoding: 'utf8' });
    t.is(out.status, 0, out.stderr);
    t.true(out.stdout.length > 200);
    if (page === 'karapace-exec.1') {
      t.regex(out.stdout, /karapace-exec - Run a command in an environment/);
      t.regex(out.stdout, /--store value/);
    }
  }
  t.regex(readFileSync(join(dir, 'karapace-list.1'), 'utf8'), /Also available as: \\fBkarapace ls\\fR/);
});
