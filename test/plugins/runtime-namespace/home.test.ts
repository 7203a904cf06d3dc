/**
 * `[runtime] home = "env"`: the env gets a home of its own at the user's home path, kept in the
 * store across runs; the host home is invisible inside, while the display/audio sockets and an
 * XAUTHORITY file that lives in the host home still reach it. Control: the default ("host")
 * shows the host home. The home follows the name: destroying the env a build moved the name
 * from leaves it, destroying the one holding it removes it (`--keep-home` keeps it for the
 * next env of that name). As root and as an unprivileged user with subordinate ids.
 */
import test from 'ava';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../../helpers/busybox-rootfs.js';
import { buildEnv, identitiesUnavailable, identity, manifest, project, subidIdentity, type Identity, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? busyboxRootfsUnavailable();
if (missing) console.warn(`runtime home tests skipped: ${missing}`);
const t = missing ? test.skip : test;

const cleanups: (() => void)[] = [];
test.after.always(() => {
  for (const c of cleanups) c();
});

/** A fake session: a Wayland socket in a runtime dir and an XAUTHORITY file in the host home. */
async function session(p: Project, who: Identity): Promise<{ marker: string; xauth: string }> {
  const runtime = p.mkdir('xdg');
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(join(runtime, 'wayland-kp'), r));
  cleanups.push(() => server.close());
  const marker = join(who.home, `kp-home-marker-${process.pid}-${p.dir.split('-').pop()}`);
  const xauth = join(who.home, `.Xauthority-kp-${process.pid}-${p.dir.split('-').pop()}`);
  for (const [file, content] of [[marker, 'host home\n'], [xauth, 'xauth-cookie\n']] as const) {
    writeFileSync(file, content);
    chownSync(file, who.uid, who.gid);
    cleanups.push(() => rmSync(file, { force: true }));
  }
  Object.assign(p.env, { XDG_RUNTIME_DIR: runtime, WAYLAND_DISPLAY: 'wayland-kp', XAUTHORITY: xauth });
  return { marker, xauth };
}

const LOOK = 'test -e "$MARKER" && echo HOST-HOME-VISIBLE; test -S "$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY" && echo WAYLAND; cat "$XAUTHORITY"';

for (const [kind, who] of [['root', () => identity('root')], ['subid user', () => subidIdentity()]] as const) {
  t(`${kind}: home = "env" hides the host home, keeps its own, and GUI sockets still work`, async (tt) => {
    const id = who();
    const p = project(id);
    cleanups.push(() => p.cleanup());
    mkdirSync(id.home, { recursive: true });
    const { marker } = await session(p, id);
    p.write('karapace.toml', manifest(busyboxRootfs(), 'home = "env"'));
    const { shortId } = await buildEnv(p);
    tt.regex(readFileSync(join(p.dir, 'karapace.lock'), 'utf8'), /^home = "env"$/m);

    const first = await p.run(['exec', shortId, '--', 'sh', '-c', `MARKER=${marker}; ${LOOK}; echo made-inside > ~/kept; pwd`]);
    tt.is(first.code, 0, first.stderr);
    tt.is(first.stdout, `WAYLAND\nxauth-cookie\n${id.home}\n`);
    // Written to the env's home in the store, not to the host home.
    const home = join(p.store, 'homes', shortId);
    tt.is(readFileSync(join(home, 'kept'), 'utf8'), 'made-inside\n');
    tt.false(existsSync(join(id.home, 'kept')));
    const again = await p.run(['exec', shortId, '--', 'sh', '-c', 'cat ~/kept; stat -c %u ~/kept']);
    tt.is(again.stdout, `made-inside\n${id.uid}\n`, again.stderr);

    // Control: the default home is the host's.
    p.write('karapace.toml', manifest(busyboxRootfs()));
    const host = await buildEnv(p);
    tt.not(host.shortId, shortId);
    const shown = await p.run(['exec', host.shortId, '--', 'sh', '-c', `MARKER=${marker}; ${LOOK}`]);
    tt.is(shown.stdout, 'HOST-HOME-VISIBLE\nWAYLAND\nxauth-cookie\n', shown.stderr);
  });
}

for (const [kind, who] of [['root', () => identity('root')], ['subid user', () => subidIdentity()]] as const) {
  t(`${kind}: an env's own home follows its name and goes with the env that holds it`, async (tt) => {
    const id = who();
    const p = project(id);
    cleanups.push(() => p.cleanup());
    p.write('karapace.toml', manifest(busyboxRootfs(), 'home = "env"'));
    const ok = async (args: string[]) => {
      const r = await p.run(args);
      if (r.code !== 0) throw new Error(`karapace ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    const first = JSON.parse(await ok(['build', '--name', 'dev', '--json'])) as { short_id: string };
    await ok(['exec', 'dev', '--', 'sh', '-c', 'echo mine > ~/kept']);
    const home = join(p.store, 'homes', 'dev');
    tt.is(readFileSync(join(home, 'kept'), 'utf8'), 'mine\n');

    // A changed manifest: the name (and the home) move to the new env; the old one has no claim.
    p.write('karapace.toml', manifest(busyboxRootfs(), 'home = "env"\nnetwork_isolation = true'));
    await ok(['build']);
    const old = JSON.parse(await ok(['destroy', first.short_id, '--json'])) as { destroyed: { home?: unknown } };
    tt.is(old.destroyed.home, undefined);
    tt.is((await ok(['exec', 'dev', '--', 'cat', `${id.home}/kept`])), 'mine\n');

    // --keep-home: the next env of that name gets it back.
    const kept = JSON.parse(await ok(['destroy', 'dev', '--keep-home', '--json'])) as { destroyed: { home?: unknown } };
    tt.deepEqual(kept.destroyed.home, { path: home, removed: false });
    tt.true(existsSync(join(home, 'kept')));
    await ok(['build', '--name', 'dev']);
    tt.is((await ok(['exec', 'dev', '--', 'cat', `${id.home}/kept`])), 'mine\n');

    // By default the home goes with the env, and destroy says so; also what root inside made
    // there (under a subordinate id with full mapping, which the user cannot remove directly).
    await ok(['exec', '--root', 'dev', '--', 'sh', '-c', `mkdir -p ${id.home}/by-root/sub && echo x > ${id.home}/by-root/sub/f && chmod 755 ${id.home}/by-root`]);
    const envs = (JSON.parse(await ok(['list', '--json'])) as { environments: { env_id: string; name?: string }[] }).environments;
    const current = envs.find((e) => e.name === 'dev')!.env_id;
    tt.is((await ok(['destroy', 'dev'])).trimEnd(), `destroyed: ${current} (dev)\nremoved its home ${home}`);
    tt.false(existsSync(home));
    tt.deepEqual(readdirSync(join(p.store, 'homes')), []);
  });
}

t('a manifest with an unknown home profile is refused, naming the key', async (tt) => {
  const p = project(identity('root'));
  cleanups.push(() => p.cleanup());
  p.write('karapace.toml', manifest(busyboxRootfs(), 'home = "tmp"'));
  const r = await p.run(['build']);
  tt.is(r.code, 2);
  tt.regex(r.stderr, /runtime\.home/);
});
