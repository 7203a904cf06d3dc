/**
 * Package installs through the namespace backend on a real Debian rootfs, as an unprivileged
 * user: apt in single-id mode (chown faked, everything owned by the user on the host) and in
 * full subordinate-id mode (files under subordinate ids, handed back before destroy).
 */
import test from 'ava';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debianRootfsTarball, debianRootfsUnavailable } from '../../helpers/debian-rootfs.js';
import { CONFIG_FILE, DIR_IMAGE_PLUGIN, buildEnv, identitiesUnavailable, imageSourcesMissing, identity, manifest, project, type Project } from './harness.js';

const missing = identitiesUnavailable() ?? debianRootfsUnavailable() ?? imageSourcesMissing();
if (missing) console.warn(`runtime-namespace apt tests skipped: ${missing}`);
const t = missing ? test.skip : test.serial;

const projects: Project[] = [];
test.after.always(() => {
  for (const p of projects) p.cleanup();
});

/** Where a build's packages are on the host: its packages layer (the upper dir before there was one). */
function installedFile(store: string, envId: string, path: string): string {
  const meta = JSON.parse(readFileSync(join(store, 'store', 'metadata', `${envId}.json`), 'utf8')) as { packages_layer?: string };
  return meta.packages_layer ? join(store, 'packages', meta.packages_layer, 'root', path) : join(store, 'env', envId, 'upper', path);
}

function subidRange(name: string): { start: number; count: number } | undefined {
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, start, count] = line.split(':');
  return { start: Number(start), count: Number(count) };
}

t('apt installs a package in single-id mode (chown faked), as an unprivileged user', async (tt) => {
  const who = identity('user');
  const p = project(who, { '@karapace/runtime-namespace': { idMapping: 'single' } });
  projects.push(p);
  p.write('karapace.toml', manifest(debianRootfsTarball(), '[system]\npackages = ["hello"]\n'));
  const { shortId, envId } = await buildEnv(p);
  const lock = readFileSync(join(p.dir, 'karapace.lock'), 'utf8');
  tt.regex(lock, /name = "hello"\nversion = "[^"]+"/);
  const r = await p.run(['exec', shortId, '--', 'sh', '-c', "hello; dpkg-query -W -f '${Status}' hello; echo; whoami"]);
  tt.is(r.code, 0, r.stderr);
  tt.deepEqual(r.stdout.trim().split('\n'), ['Hello, world!', 'install ok installed', who.name]);
  // Single-id: container root is the user, so dpkg's files are the user's on the host.
  tt.is(lstatSync(installedFile(p.store, envId, 'usr/bin/hello')).uid, who.uid);
  const destroy = await p.run(['destroy', shortId]);
  tt.is(destroy.code, 0, destroy.stderr);

  // Same store, default mapping: with a subordinate range, root inside is a subordinate id,
  // and destroy still removes everything.
  const range = subidRange(who.name);
  if (!range) {
    tt.log(`no /etc/subuid range for ${who.name}: full-mapping half not run`);
    return;
  }
  p.write(CONFIG_FILE, JSON.stringify({ plugins: [DIR_IMAGE_PLUGIN] }));
  const full = await buildEnv(p);
  tt.is(lstatSync(installedFile(p.store, full.envId, 'usr/bin/hello')).uid, range.start);
  const again = await p.run(['exec', full.shortId, '--', 'sh', '-c', 'hello; id -u']);
  tt.deepEqual(again.stdout.trim().split('\n'), ['Hello, world!', String(who.uid)]);
  const destroyFull = await p.run(['destroy', full.shortId]);
  tt.is(destroyFull.code, 0, destroyFull.stderr);
});
