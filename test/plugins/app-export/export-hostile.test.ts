/**
 * App export against hostile environments and hostile metadata. The desktop entries we write
 * are launched by GLib itself (`gio launch`), with a launcher that only records its argv: the
 * arguments must arrive exactly as parsed, and nothing may run on the host. Nothing outside
 * the export directories is written or deleted.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, readMetadata, storeLayout, writeMetadata, type Engine } from '@karapace/kernel';
import { exportApps } from '@karapace/app-export';
import { sandbox, type Sandbox } from '../../helpers/cli.js';
import { buildMock, hasTool } from '../../cli/helpers.js';

const LEDGER = '.karapace-exports';

interface Box {
  b: Sandbox;
  home: string;
  apps: string;
  icons: string;
  bin: string;
  /** Where a hostile command would leave its mark. */
  marker: string;
  /** The launcher's recorded argv. */
  argvFile: string;
  recorder: string;
}

function box(): Box {
  const b = sandbox('kp-export-hostile-');
  const home = join(b.dir, 'home');
  mkdirSync(home);
  Object.assign(b.env, { HOME: home, XDG_DATA_HOME: join(home, '.local/share') });
  const argvFile = join(b.dir, 'argv');
  const recorder = join(b.dir, 'record-argv');
  writeFileSync(recorder, `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done > '${argvFile}'\n`);
  chmodSync(recorder, 0o755);
  return { b, home, apps: join(home, '.local/share/applications'), icons: join(home, '.local/share/icons/karapace'), bin: join(home, '.local/bin'), marker: join(b.dir, 'pwned'), argvFile, recorder };
}

/** The env's upper dir: the mock backend runs commands there. */
async function upperOf(b: Sandbox, env: string): Promise<string> {
  const r = await b.run(['exec', env, '--', 'pwd']);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

function put(root: string, rel: string, content: string): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
}

/** An engine whose exports run `recorder` instead of karapace (the export code is the real one). */
function engineFor(x: Box): Promise<Engine> {
  return createEngine({ cwd: x.b.dir, store: x.b.store, env: x.b.env, globalConfigDir: join(x.b.dir, 'config-home', 'karapace'), launcher: [x.recorder] });
}

/** Launches a desktop entry through GLib and returns the argv its Exec ran. */
function gioLaunch(x: Box, entry: string): string[] {
  if (existsSync(x.argvFile)) writeFileSync(x.argvFile, '');
  const r = spawnSync('gio', ['launch', entry], { env: { PATH: '/usr/bin:/bin', HOME: x.home }, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`gio launch ${entry}: ${r.stderr}`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const text = existsSync(x.argvFile) ? readFileSync(x.argvFile, 'utf8') : '';
    if (text) return text.split('\0').slice(0, -1);
    spawnSync('sleep', ['0.05']);
  }
  throw new Error('the launched entry never ran the launcher');
}

/** Every file under `dir` with its content or link target, leaving out the given subtrees. */
function snapshot(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out[p] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

const gio = hasTool('gio');

test('a hostile desktop entry: indented and duplicate Exec, actions, escapes and shell syntax all end up as arguments inside the environment', async (t) => {
  if (!gio) return t.fail('gio (libglib2.0-bin) is needed to launch desktop entries as a desktop does');
  const x = box();
  const env = await buildMock(x.b, 'h', 'hostile');
  const upper = await upperOf(x.b, 'hostile');
  const m = x.marker;
  put(upper, 'usr/share/applications/hello.desktop', [
    '# a comment',
    '[Desktop Entry]',
    'Type=Application',
    'Name=Hello',
    'Name[de]=Hallo',
    `Comment=\\sline one\\nline two\\ttab \\\\ back $(touch ${m}-comment)`,
    'Exec=hello %U',
    'TryExec=/bin/sh',
    'DBusActivatable=true',
    'Path=/',
    'X-KDE-SubstituteUID=true',
    'Icon=hello',
    'Actions=evil;ghost;',
    // Indented, with spaces around "=", and a duplicate: GLib skips the indent and keeps the last one.
    `   \tExec = sh -c "touch ${m}-indented" %f`,
    '[Desktop Action evil]',
    'Name=Evil',
    `Exec=touch ${m}-a; touch ${m}-b \`touch ${m}-c\` "$(touch ${m}-d)" 'x\\\\ny' "q\\\\"q" 100%%`,
    '[X-Other Group]',
    `Exec=touch ${m}-other`,
    '[Desktop Entry]',
    'Keywords=one;two\\;three;',
  ].join('\n') + '\n');
  put(upper, 'usr/share/pixmaps/hello.png', 'PNG\n');
  const outside = () => snapshot(x.b.dir, [x.b.store, join(x.home, '.local'), x.argvFile, join(x.b.dir, 'probe.desktop')]);
  const before = outside();
  const engine = await engineFor(x);
  const r = await exportApps(engine, 'hostile', ['hello']);
  const entry = join(x.apps, `karapace-${env.short_id}-hello.desktop`);
  t.deepEqual(r.exported[0]!.files.sort(), [entry, join(x.icons, `${env.short_id}-hello.png`)].sort());
  const text = readFileSync(entry, 'utf8');

  // Written from parsed values: no indented line, one Exec per group, nothing that runs or activates on the host.
  t.false(text.split('\n').some((l) => /^\s/.test(l)));
  t.is(text.match(/^Exec=/gm)!.length, 2);
  for (const gone of [/TryExec/, /DBusActivatable/, /^Path=/m, /X-KDE/, /X-Other/, /ghost/]) t.notRegex(text, gone);
  t.regex(text, /^Name=Hello \(hostile\)$/m);
  t.regex(text, /^Name\[de\]=Hallo \(hostile\)$/m);
  t.regex(text, /^Actions=evil;$/m);
  t.regex(text, /^Keywords=one;two\\;three;$/m);
  t.true(text.includes(`Comment=line one line two tab \\\\ back $(touch ${m}-comment)\n`));

  // GLib runs the entry: our launcher, then the parsed arguments, the last (indented) Exec winning.
  const argv = gioLaunch(x, entry);
  t.deepEqual(argv, ['exec', '--store', x.b.store, env.env_id, '--', 'sh', '-c', `touch ${m}-indented`]);

  // The action's Exec, launched by GLib the same way (gio launches only an entry's main Exec).
  const actionExec = /\[Desktop Action evil\]\nName=Evil\nExec=(.*)\n/.exec(text)![1]!;
  const probe = join(x.b.dir, 'probe.desktop');
  writeFileSync(probe, `[Desktop Entry]\nType=Application\nName=probe\nExec=${actionExec}\n`);
  t.deepEqual(gioLaunch(x, probe), ['exec', '--store', x.b.store, env.env_id, '--',
    'touch', `${m}-a;`, 'touch', `${m}-b`, '`touch', `${m}-c\``, `$(touch ${m}-d)`, 'x\\ny', 'q"q', '100%']);

  // KDE's `Key[$e]` (shell expansion) is no valid key for GLib, which refuses the whole file: so do we.
  put(upper, 'usr/share/applications/kde.desktop', `[Desktop Entry]\nType=Application\nName=K\nExec=kde\nExec[$e]=$(touch ${m}-kde)\n`);
  const kde = await x.b.run(['export', 'hostile', 'kde']);
  t.is(kde.code, 2);
  t.regex(kde.stderr, /the desktop entry of "kde" cannot be exported: it is not a valid key file \(line 5: invalid key name\)/);
  t.false(existsSync(join(x.apps, `karapace-${env.short_id}-kde.desktop`)));

  t.deepEqual(readdirSync(x.b.dir).filter((f) => f.startsWith('pwned')), [], 'no host command ran');
  t.deepEqual(outside(), before, 'nothing written outside the store and the export directories');
});

test('a store path and an env label full of shell syntax are quoted in wrappers and entries', async (t) => {
  if (!gio) return t.fail('gio (libglib2.0-bin) is needed');
  const x = box();
  const weird = join(x.b.dir, `st'o re $(touch ${x.marker}-s) \`touch ${x.marker}-t\`; "x\\" %f\nnl`);
  Object.assign(x.b.env, { KARAPACE_STORE: weird });
  x.b.store = weird;
  const env = await buildMock(x.b, 'w', 'weird');
  const upper = await upperOf(x.b, 'weird');
  put(upper, 'usr/share/applications/hello.desktop', '[Desktop Entry]\nType=Application\nName=Hello\nExec=hello --x="a b"\n');
  put(upper, 'usr/bin/tool', '#!/bin/sh\n');
  const engine = await engineFor(x);
  await exportApps(engine, 'weird', ['hello', 'tool']);
  const expected = ['exec', '--store', weird, env.env_id, '--'];
  t.deepEqual(gioLaunch(x, join(x.apps, `karapace-${env.short_id}-hello.desktop`)), [...expected, 'hello', '--x=a b']);
  writeFileSync(x.argvFile, '');
  const run = spawnSync(join(x.bin, 'tool'), ['arg one', `$(touch ${x.marker}-arg)`], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.deepEqual(readFileSync(x.argvFile, 'utf8').split('\0').slice(0, -1), [...expected, '/usr/bin/tool', 'arg one', `$(touch ${x.marker}-arg)`]);
  t.deepEqual(readdirSync(x.b.dir).filter((f) => f.startsWith('pwned')), []);
});

test('hostile app names, ids and names in metadata never reach a host path or a script', async (t) => {
  const x = box();
  const env = await buildMock(x.b, 'n', 'names');
  const upper = await upperOf(x.b, 'names');
  put(upper, 'usr/bin/tool', '#!/bin/sh\n');
  const before = snapshot(x.b.dir, [x.b.store]);
  for (const app of ['../../.bashrc', 'a/b', '.hidden', 'x\ny', 'a;touch', '$(id)', '']) {
    const r = await x.b.run(['export', 'names', app]);
    t.is(r.code, 2, `${JSON.stringify(app)}: ${r.stderr}`);
    t.regex(r.stderr, /is not an app or binary name/);
  }
  t.deepEqual(snapshot(x.b.dir, [x.b.store]), before, 'nothing written');

  // Metadata (as a remote could send it) with a short_id and a name that are paths and commands.
  const layout = storeLayout(x.b.store);
  const meta = (await readMetadata(layout, env.env_id))!;
  await writeMetadata(layout, { ...meta, short_id: `../../../${x.b.dir.slice(1)}/evil\n$(touch ${x.marker})`, name: `names\n$(touch ${x.marker}-name)` });
  const r = await x.b.json(['export', env.env_id, 'tool']);
  t.is(r.short_id, env.short_id, 'the short id is derived from env_id');
  const wrapper = readFileSync(join(x.bin, 'tool'), 'utf8');
  t.notRegex(wrapper, /evil|touch/);
  t.is(wrapper.split('\n').length, 5);
  t.false(existsSync(join(x.b.dir, 'evil')));
  t.deepEqual(readdirSync(x.b.dir).filter((f) => f.startsWith('pwned')), []);
});

test('metadata naming paths outside the export dirs, or files karapace did not write: unexport and destroy delete none of them', async (t) => {
  const x = box();
  const env = await buildMock(x.b, 'd', 'victim');
  const other = await buildMock(x.b, 'o', 'other');
  for (const e of ['victim', 'other']) put(await upperOf(x.b, e), 'usr/bin/tool', '#!/bin/sh\n');
  t.is((await x.b.run(['export', 'other', 'tool', '--bin-dir', join(x.home, 'otherbin')])).code, 0);
  t.is((await x.b.run(['export', 'victim', 'tool'])).code, 0);
  const victims = {
    tmp: join(x.b.dir, 'victim-file'),
    bashrc: join(x.home, '.bashrc'),
    mine: join(x.bin, 'mytool'),
    dotdot: `${x.apps}/../../../.profile`,
    otherEnvs: join(x.home, 'otherbin', 'tool'),
    ledger: join(x.bin, LEDGER, 'tool.json'),
    dir: join(x.home, 'somedir'),
  };
  writeFileSync(victims.tmp, 'victim\n');
  writeFileSync(victims.bashrc, 'export PATH\n');
  writeFileSync(victims.mine, '#!/bin/sh\n# karapace-export: looks like ours\n');
  writeFileSync(join(x.home, '.profile'), 'profile\n');
  mkdirSync(victims.dir);
  const layout = storeLayout(x.b.store);
  const meta = (await readMetadata(layout, env.env_id))!;
  const ours = join(x.bin, 'tool');
  // An own "__proto__" key too (JSON.parse makes one; an object literal would set the prototype).
  const extensions = JSON.parse(JSON.stringify({ 'app-export': { apps: {
    tool: { app: 'tool', kind: 'binary', files: [ours, ...Object.values(victims)] },
    evil: { app: 'evil', kind: 'desktop', files: [victims.tmp, 42, null, '/', victims.dir] },
    proto: { files: [victims.bashrc] },
  } } }).replace('"proto"', '"__proto__"'));
  await writeMetadata(layout, { ...meta, extensions });
  const before = snapshot(x.b.dir, [x.b.store, ours, join(x.bin, LEDGER)]);

  const u = await x.b.run(['unexport', 'victim', 'tool']);
  t.is(u.code, 0, u.stderr);
  t.regex(u.stderr, /left .*victim-file in place: karapace did not write it/);
  t.false(existsSync(ours), 'the wrapper karapace wrote for this env is removed');
  t.deepEqual(snapshot(x.b.dir, [x.b.store, ours, join(x.bin, LEDGER)]), before, 'nothing else deleted');
  const d = await x.b.run(['destroy', 'victim']);
  t.is(d.code, 0, d.stderr);
  t.deepEqual(snapshot(x.b.dir, [x.b.store, ours, join(x.bin, LEDGER)]), before);
  t.true(readFileSync(victims.otherEnvs, 'utf8').includes(other.env_id), 'another environment\'s export stays');
});

test('an icon, a desktop entry or a wrapper never replaces a user file or follows a planted symlink', async (t) => {
  const x = box();
  const env = await buildMock(x.b, 'i', 'icons');
  const upper = await upperOf(x.b, 'icons');
  const secret = join(x.b.dir, 'host-secret');
  writeFileSync(secret, 'host secret\n');
  put(upper, 'usr/share/applications/hello.desktop', '[Desktop Entry]\nType=Application\nName=Hello\nExec=hello\nIcon=hello\n');
  put(upper, 'usr/share/pixmaps/hello.png', 'PNG\n');
  put(upper, 'usr/bin/tool', '#!/bin/sh\n');
  // The user's own icon where karapace would put the app's.
  mkdirSync(x.icons, { recursive: true });
  const userIcon = join(x.icons, `${env.short_id}-hello.png`);
  writeFileSync(userIcon, 'my icon\n');
  const r = await x.b.run(['export', 'icons', 'hello']);
  t.is(r.code, 2);
  t.true(r.stderr.includes(`${userIcon} exists and was not written by karapace`), r.stderr);
  t.is(readFileSync(userIcon, 'utf8'), 'my icon\n');
  t.false(existsSync(join(x.apps, `karapace-${env.short_id}-hello.desktop`)));

  // A symlink planted where the wrapper goes: refused; with --force it is replaced, its target untouched.
  mkdirSync(x.bin, { recursive: true });
  symlinkSync(secret, join(x.bin, 'tool'));
  const s = await x.b.run(['export', 'icons', 'tool']);
  t.is(s.code, 2);
  t.regex(s.stderr, /exists and was not written by karapace/);
  t.is((await x.b.run(['export', 'icons', 'tool', '--force'])).code, 0);
  t.false(lstatSync(join(x.bin, 'tool')).isSymbolicLink());
  t.is(readFileSync(secret, 'utf8'), 'host secret\n');

  // A ledger that is a symlink (or not private) is refused: nothing is written through it.
  const elsewhere = join(x.b.dir, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  mkdirSync(x.apps, { recursive: true });
  symlinkSync(elsewhere, join(x.apps, LEDGER));
  const l = await x.b.run(['export', 'icons', 'hello', '--force']);
  t.is(l.code, 2);
  t.regex(l.stderr, /is not a private directory of this user/);
  t.deepEqual(readdirSync(elsewhere), []);
  t.is(readFileSync(userIcon, 'utf8'), 'my icon\n', 'every target is checked before any is written, even with --force');

  // destroy does not delete through a symlink: the recorded wrapper swapped for a link to a host file stays, and so does the file.
  const wrapper = join(x.bin, 'tool');
  rmSync(wrapper);
  symlinkSync(secret, wrapper);
  t.is((await x.b.run(['destroy', 'icons'])).code, 0);
  t.true(lstatSync(wrapper).isSymbolicLink());
  t.is(readFileSync(secret, 'utf8'), 'host secret\n');

  // Symlinks inside the environment resolve inside it: an icon pointing at a host file is not found.
  const y = box();
  const env2 = await buildMock(y.b, 'j', 'links');
  const upper2 = await upperOf(y.b, 'links');
  put(upper2, 'usr/share/applications/hello.desktop', '[Desktop Entry]\nType=Application\nName=Hello\nExec=hello\nIcon=/usr/share/pixmaps/hello.png\n');
  mkdirSync(join(upper2, 'usr/share/pixmaps'), { recursive: true });
  symlinkSync(secret, join(upper2, 'usr/share/pixmaps/hello.png'));
  symlinkSync('/dev/zero', join(upper2, 'usr/share/pixmaps/zero.png'));
  const e = await y.b.json(['export', 'links', 'hello']);
  t.deepEqual(e.exported[0].files, [join(y.apps, `karapace-${env2.short_id}-hello.desktop`)], 'no icon copied');
  t.false(existsSync(y.icons) && readdirSync(y.icons).some((f) => f.endsWith('.png')));
  t.notRegex(readFileSync(e.exported[0].files[0], 'utf8'), /^Icon=/m);
});
