import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { chmodSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { mockManifest, REPO, sandbox } from '../../helpers/cli.js';
import { hasTool } from '../../cli/helpers.js';

const require = createRequire(join(REPO, 'plugins/dbus/package.json'));
const dbus = require('dbus-next') as typeof import('dbus-next');

/** A private session bus: `dbus-daemon --session --print-address` on a socket in `dir`. */
async function startBus(dir: string, env: NodeJS.ProcessEnv = process.env, servicedir?: string): Promise<{ address: string; daemon: ChildProcess }> {
  const args = ['--session', '--nofork', '--print-address', `--address=unix:path=${join(dir, 'bus')}`];
  if (servicedir) {
    // Same as --session but with our activation directory.
    const config = join(dir, 'session.conf');
    writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${join(dir, 'bus')}</listen><auth>EXTERNAL</auth>
<servicedir>${servicedir}</servicedir>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`);
    args.splice(0, args.length, `--config-file=${config}`, '--nofork', '--print-address');
  }
  const daemon = spawn('dbus-daemon', args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(daemon.stdout!, 'data')) as [Buffer];
  return { address: line.toString().trim().split('\n')[0]!, daemon };
}

async function manager(address: string) {
  const bus = dbus.sessionBus({ busAddress: address });
  const obj = await bus.getProxyObject('org.karapace.Manager1', '/org/karapace/Manager1');
  return { bus, iface: obj.getInterface('org.karapace.Manager1') };
}

test('the D-Bus service on a real session bus answers List and Build, and maps errors to D-Bus errors', async (t) => {
  if (!hasTool('dbus-daemon')) {
    t.log('dbus-daemon is not installed (.ci/run installs dbus)');
    t.fail('dbus-daemon missing');
    return;
  }
  const box = sandbox('kp-dbus-');
  const { address, daemon } = await startBus(box.dir);
  t.teardown(() => daemon.kill());
  const { startService } = await import('../../../plugins/dbus/src/index.js');
  const service = await startService({ busAddress: address, store: box.store, cwd: box.dir, env: box.env, globalConfigDir: join(box.dir, 'config-home', 'karapace') });
  t.teardown(() => service.stop());
  const { bus, iface } = await manager(address);
  t.teardown(() => bus.disconnect());

  t.deepEqual(await iface.List!(), []);
  const manifest = box.write('proj/karapace.toml', mockManifest({ image: 'mock:dbus', packages: ['git'] }));
  let changed = 0;
  iface.on('EnvironmentsChanged', () => changed++);
  const [envId, shortId, name, cached] = await iface.Build!(manifest, 'viabus');
  t.regex(envId, /^[0-9a-f]{64}$/);
  t.is(shortId, envId.slice(0, 12));
  t.is(name, 'viabus');
  t.false(cached);
  const rows = await iface.List!();
  t.deepEqual(rows, [[envId, shortId, 'viabus', 'built', 'mock', 'mock:dbus', 1]]);
  t.is(await iface.Status!('viabus'), 'built');
  // The CLI sees the same store.
  const listed = await box.json(['list']);
  t.is(listed.environments[0].env_id, envId);
  t.is(await iface.Rename!('viabus', 'renamed'), 'viabus');
  const [healthy, report] = await iface.VerifyStore!();
  t.true(healthy, report);
  t.is(JSON.parse(await iface.Gc!(true)).dry_run, true);

  const notFound = await t.throwsAsync(() => iface.Status!('nope'));
  t.is((notFound as { type?: string }).type, 'org.karapace.Error.NotFound');
  t.regex(notFound!.message, /KP_ENV_NOT_FOUND/);
  const relative = await t.throwsAsync(() => iface.Build!('proj/karapace.toml', ''));
  t.is((relative as { type?: string }).type, 'org.karapace.Error.InvalidArgs');

  t.is(await iface.Destroy!('renamed'), envId);
  t.deepEqual(await iface.List!(), []);
  await new Promise((r) => setTimeout(r, 100));
  t.true(changed >= 3);
});

test('the activation file in the repo starts karapace-dbus on the first call', async (t) => {
  if (!hasTool('dbus-daemon')) {
    t.fail('dbus-daemon missing');
    return;
  }
  const box = sandbox('kp-dbus-');
  // `Exec=/usr/bin/env karapace-dbus`: put a karapace-dbus on the daemon's PATH.
  const bin = join(box.dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'karapace-dbus'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'plugins/dbus/dist/bin.js'))} "$@"\n`);
  chmodSync(join(bin, 'karapace-dbus'), 0o755);
  const { address, daemon } = await startBus(box.dir, { ...box.env, PATH: `${bin}:${process.env.PATH}` }, join(REPO, 'plugins/dbus/data'));
  t.teardown(() => daemon.kill());
  const { bus, iface } = await manager(address);
  t.teardown(async () => {
    // Stop the activated service through the bus: it is our child's child.
    const dbusObj = await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
    const pid = await dbusObj.getInterface('org.freedesktop.DBus').GetConnectionUnixProcessID!('org.karapace.Manager1').catch(() => 0);
    if (pid) process.kill(pid, 'SIGTERM');
    bus.disconnect();
  });
  t.deepEqual(await iface.List!(), []);
  box.write('p/karapace.toml', mockManifest({ image: 'mock:act' }));
  const [envId] = await iface.Build!(join(box.dir, 'p/karapace.toml'), '');
  t.is((await box.json(['list'])).environments[0].env_id, envId);
});

test('the D-Bus service pulls through the kernel\'s verified pull, as the CLI does', async (t) => {
  if (!hasTool('dbus-daemon')) {
    t.fail('dbus-daemon missing (.ci/run installs dbus)');
    return;
  }
  const { startTestServer, WRITE_TOKEN, READ_TOKEN } = await import('../remote-http/server-process.js');
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const src = sandbox('kp-dbus-src-');
  src.write('proj/karapace.toml', mockManifest({ image: 'mock:dbuspull' }));
  await src.json(['build', join(src.dir, 'proj'), '--name', 'shared']);
  const pushed = await src.json(['push', 'shared', 'shared@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: WRITE_TOKEN } });

  const box = sandbox('kp-dbus-pull-');
  const { address, daemon } = await startBus(box.dir);
  t.teardown(() => daemon.kill());
  const { startService } = await import('../../../plugins/dbus/src/index.js');
  const service = await startService({
    busAddress: address, store: box.store, cwd: box.dir, env: { ...box.env, KARAPACE_REMOTE_TOKEN: READ_TOKEN }, globalConfigDir: join(box.dir, 'config-home', 'karapace'),
  });
  t.teardown(() => service.stop());
  const { bus, iface } = await manager(address);
  t.teardown(() => bus.disconnect());
  const result = JSON.parse(await iface.Pull!(server.url, 'shared@v1', 'fromBus'));
  t.is(result.env_id, pushed.env_id);
  t.is(result.name, 'fromBus');
  const listed = await box.json(['list']);
  t.is(listed.environments[0].name, 'fromBus');
  const missing = await t.throwsAsync(() => iface.Pull!(server.url, 'nothere@v1', ''));
  t.regex(missing!.message, /KP_REMOTE_NOT_FOUND/);
});

test('the D-Bus service pushes, pins and runs doctor through the kernel\'s operations, as the CLI does', async (t) => {
  if (!hasTool('dbus-daemon')) {
    t.fail('dbus-daemon missing (.ci/run installs dbus)');
    return;
  }
  const { startTestServer, WRITE_TOKEN, READ_TOKEN } = await import('../remote-http/server-process.js');
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const box = sandbox('kp-dbus-push-');
  box.write('proj/karapace.toml', mockManifest({ image: 'mock:dbuspush' }));
  const built = await box.json(['build', join(box.dir, 'proj'), '--name', 'tobus']);
  const { address, daemon } = await startBus(box.dir);
  t.teardown(() => daemon.kill());
  const { startService } = await import('../../../plugins/dbus/src/index.js');
  const service = await startService({
    busAddress: address, store: box.store, cwd: box.dir, env: { ...box.env, KARAPACE_REMOTE_TOKEN: WRITE_TOKEN }, globalConfigDir: join(box.dir, 'config-home', 'karapace'),
  });
  t.teardown(() => service.stop());
  const { bus, iface } = await manager(address);
  t.teardown(() => bus.disconnect());

  // Push: what the bus pushed, the CLI pulls into another store.
  const pushed = JSON.parse(await iface.Push!('tobus', server.url, 'tobus@v1'));
  t.like(pushed, { reference: 'tobus@v1', env_id: built.env_id, unchanged: false });
  t.true(pushed.uploaded.blobs >= 3);
  const other = sandbox('kp-dbus-pulled-');
  const pulled = await other.json(['pull', 'tobus@v1', '--remote', server.url], { env: { KARAPACE_REMOTE_TOKEN: READ_TOKEN } });
  t.is(pulled.env_id, built.env_id);
  // No reference: the environment's name @latest; nothing new to send.
  const latest = JSON.parse(await iface.Push!('tobus', server.url, ''));
  t.like(latest, { reference: 'tobus@latest', digest: pushed.digest, uploaded: { blobs: 0, bytes: 0 } });
  const bad = await t.throwsAsync(() => iface.Push!('tobus', server.url, 'Not A Ref'));
  t.is((bad as { type?: string }).type, 'org.karapace.Error.InvalidArgs');
  t.regex(bad!.message, /KP_REMOTE_BAD_REFERENCE/);

  // Pin: a local tarball base is rewritten to its #blake3= pin; check mode refuses it before.
  const { busyboxMissing, busyboxTarball } = await import('../image-sources/_helpers.js');
  if (busyboxMissing) t.log(`pin part skipped: ${busyboxMissing}`);
  else {
    mkdirSync(join(box.dir, 'pin'));
    busyboxTarball(t, join(box.dir, 'pin'), 'gz');
    const manifest = box.write('pin/karapace.toml', mockManifest({ image: './busybox.tar.gz' }));
    const unpinned = await t.throwsAsync(() => iface.Pin!(manifest, true, false));
    t.is((unpinned as { type?: string }).type, 'org.karapace.Error.Manifest');
    t.regex(unpinned!.message, /KP_IMAGE_NOT_PINNED/);
    const pinned = JSON.parse(await iface.Pin!(manifest, false, false));
    t.true(pinned.changed);
    t.regex(pinned.after, /^\.\/busybox\.tar\.gz#blake3=[0-9a-f]{64}$|busybox\.tar\.gz#blake3=[0-9a-f]{64}$/);
    t.like(JSON.parse(await iface.Pin!(manifest, true, false)), { pinned: true, after: pinned.after });
    const relative = await t.throwsAsync(() => iface.Pin!('pin/karapace.toml', true, false));
    t.is((relative as { type?: string }).type, 'org.karapace.Error.InvalidArgs');
  }

  // Doctor: the same checks the CLI reports.
  const [ok, json] = await iface.Doctor!();
  const report = JSON.parse(json) as { ok: boolean; checks: { id: string }[] };
  t.is(ok, report.ok);
  const cli = JSON.parse((await box.run(['doctor', '--json'])).stdout) as { checks: { id: string }[] };
  t.deepEqual(report.checks.map((c) => c.id).sort(), cli.checks.map((c) => c.id).sort());
  t.true(report.checks.some((c) => c.id === 'core.store.version'));
});
