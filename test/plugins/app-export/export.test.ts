import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mockManifest, sandbox } from '../../helpers/cli.js';
import { buildMock } from '../../cli/helpers.js';

/** A sandbox whose HOME/XDG_DATA_HOME are temp dirs, so exports land there. */
function box() {
  const b = sandbox('kp-export-');
  const home = join(b.dir, 'home');
  mkdirSync(home);
  Object.assign(b.env, { HOME: home, XDG_DATA_HOME: join(home, '.local/share') });
  return { b, home, apps: join(home, '.local/share/applications'), bin: join(home, '.local/bin') };
}

/** What karapace exported into a directory (its ledger `.karapace-exports/` left out). */
function exportsIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => f !== '.karapace-exports');
}

const DESKTOP = '[Desktop Entry]\nType=Application\nName=Hello\nName[de]=Hallo\nExec=hello %U\nTryExec=hello\nIcon=hello\n';

/** Puts a desktop entry, an icon and a binary into the environment (the mock backend runs in its upper dir). */
async function installApp(b: ReturnType<typeof sandbox>, env: string): Promise<void> {
  const script = `mkdir -p usr/share/applications usr/share/pixmaps usr/bin && printf '${DESKTOP.replace(/\n/g, '\\n').replace(/%/g, '%%')}' > usr/share/applications/hello.desktop && echo PNG > usr/share/pixmaps/hello.png && printf '#!/bin/sh\\n' > usr/bin/echo && chmod +x usr/bin/echo`;
  const r = await b.run(['exec', env, '--', 'sh', '-c', script]);
  if (r.code !== 0) throw new Error(r.stderr);
}

test('[gui] apps are exported as desktop entries with an Exec that enters the environment, and go away on destroy', async (t) => {
  const { b, apps } = box();
  const env = await buildMock(b, 'gui', 'guienv', '[gui]\napps = ["hello"]\n');
  await installApp(b, 'guienv');
  const r = await b.json(['export', 'guienv']);
  t.is(r.exported.length, 1);
  const entries = exportsIn(apps);
  t.deepEqual(entries, [`karapace-${env.short_id}-hello.desktop`]);
  const text = readFileSync(join(apps, entries[0]!), 'utf8');
  t.regex(text, new RegExp(`^Exec=.* exec --store ${b.store.replace(/[/.]/g, '\\$&')} ${env.env_id} -- hello %U$`, 'm'));
  t.regex(text, /^Name=Hello \(guienv\)$/m);
  t.regex(text, /^Name\[de\]=Hallo \(guienv\)$/m);
  t.notRegex(text, /TryExec/);
  t.regex(text, new RegExp(`^X-Karapace-Env=${env.env_id}$`, 'm'));
  const icon = /^Icon=(.*)$/m.exec(text)![1]!;
  t.true(existsSync(icon));
  t.is(readFileSync(icon, 'utf8'), 'PNG\n');
  // Recorded in the store.
  const meta = await b.json(['inspect', 'guienv']);
  t.deepEqual(Object.keys(meta.extensions['app-export'].apps), ['hello']);

  const d = await b.run(['destroy', 'guienv']);
  t.is(d.code, 0, d.stderr);
  t.deepEqual(exportsIn(apps), []);
  t.false(existsSync(icon));
});

test('a binary is exported as a wrapper script that runs through karapace exec; unexport removes it', async (t) => {
  const { b, bin } = box();
  await buildMock(b, 'cli', 'clienv');
  await installApp(b, 'clienv');
  const r = await b.json(['export', 'clienv', 'echo']);
  t.is(r.exported[0].kind, 'binary');
  const wrapper = join(bin, 'echo');
  t.true((statSync(wrapper).mode & 0o111) !== 0);
  // The mock backend runs commands on the host, so /usr/bin/echo answers: the chain works.
  const out = spawnSync(wrapper, ['through', 'karapace'], { env: b.env, encoding: 'utf8' });
  t.is(out.status, 0, out.stderr);
  t.is(out.stdout, 'through karapace\n');
  const u = await b.json(['unexport', 'clienv', 'echo']);
  t.deepEqual(u.removed, ['echo']);
  t.false(existsSync(wrapper));
});

test('export refuses unknown apps and host files it did not write', async (t) => {
  const { b, bin } = box();
  await buildMock(b, 'x', 'xenv');
  await installApp(b, 'xenv');
  const missing = await b.run(['export', 'xenv', 'nosuchapp']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /has no desktop entry or binary named "nosuchapp"/);
  mkdirSync(bin, { recursive: true });
  b.write('home/.local/bin/echo', '#!/bin/sh\necho mine\n');
  const clash = await b.run(['export', 'xenv', 'echo']);
  t.is(clash.code, 2);
  t.regex(clash.stderr, /was not written by karapace/);
  t.is(readFileSync(join(bin, 'echo'), 'utf8'), '#!/bin/sh\necho mine\n');
  t.is((await b.run(['export', 'xenv', 'echo', '--force'])).code, 0);
  const nothing = await b.run(['unexport', 'xenv', 'hello']);
  t.is(nothing.code, 2);
  t.regex(nothing.stderr, /has not exported: hello/);
});

test('build exports [gui] apps by itself and says so; an app missing from the environment is a warning, not a failed build', async (t) => {
  const { b, apps, home } = box();
  // The mock package manager installs a desktop entry and an icon for packages named *-app.
  b.write('auto/karapace.toml', mockManifest({ image: 'mock:auto', packages: ['demo-app', 'tool'], extra: '[gui]\napps = ["demo-app", "missing-app"]\n' }));
  const r = await b.run(['build', 'auto', '--name', 'autoenv', '--json']);
  t.is(r.code, 0, r.stderr);
  const env = JSON.parse(r.stdout);
  t.false(env.cached);
  // The warning travels through the progress hook (JSON lines on stderr under --json).
  const warnings = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.progress?.kind === 'log' && e.progress.level === 'warn');
  t.is(warnings.length, 1, r.stderr);
  // What was exported, and where, is said too.
  const told = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.progress?.kind === 'log' && e.progress.level === 'info' && /^exported /.test(e.progress.message));
  t.is(told.length, 1, r.stderr);
  t.regex(told[0].progress.message, new RegExp(`^exported "demo-app" of environment autoenv to the host: .*${join(apps, 'karapace-').replace(/[/.]/g, '\\$&')}[0-9a-f]+-demo-app\\.desktop`));
  t.regex(warnings[0].progress.message, /"missing-app" of environment autoenv was not exported: .*no desktop entry or binary named "missing-app"/);

  const entry = join(apps, `karapace-${env.short_id}-demo-app.desktop`);
  t.deepEqual(exportsIn(apps), [`karapace-${env.short_id}-demo-app.desktop`]);
  const text = readFileSync(entry, 'utf8');
  t.regex(text, new RegExp(`^Exec=.* exec --store ${b.store.replace(/[/.]/g, '\\$&')} ${env.env_id} -- demo-app %U$`, 'm'));
  t.regex(text, /^Name=demo-app \(autoenv\)$/m);
  const icon = /^Icon=(.*)$/m.exec(text)![1]!;
  t.regex(readFileSync(icon, 'utf8'), /<title>demo-app<\/title>/);
  const meta = await b.json(['inspect', 'autoenv']);
  t.deepEqual(Object.keys(meta.extensions['app-export'].apps), ['demo-app']);
  // The build's result lists what it exported: the entry and its icon, not the missing app.
  t.deepEqual(env.extensions['app-export'].exported.map((e: { app: string; kind: string }) => [e.app, e.kind]), [['demo-app', 'desktop']]);
  t.deepEqual([...env.extensions['app-export'].exported[0].files].sort(), [entry, icon].sort());

  // Without the lock the build resolves again (same identity, not cached): the export is
  // redone; without --json the warning is a plain log line and the build still succeeds.
  rmSync(join(b.dir, 'auto/karapace.lock'));
  const again = await b.run(['build', 'auto']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /"missing-app" of environment autoenv was not exported/);
  t.true(existsSync(entry));
  // Said in the default human output too, with the home directory as ~.
  const said = again.stdout.split('\n').filter((l) => l.startsWith('exported '));
  t.is(said.length, 1, again.stdout);
  const [head, files] = said[0]!.split(' → ');
  t.is(head, 'exported demo-app');
  t.deepEqual(files!.split(', ').sort(), [`~/.local/share/applications/karapace-${env.short_id}-demo-app.desktop`, icon.replace(home, '~')].sort());

  const d = await b.run(['destroy', 'autoenv']);
  t.is(d.code, 0, d.stderr);
  t.deepEqual(exportsIn(apps), []);
  t.false(existsSync(icon));
});
