/**
 * Karapace installed the way users install it: every workspace packed with `npm pack`, the
 * tarballs installed with `npm install -g --prefix` by an unprivileged user on a PATH with
 * no C compiler and nothing of this repository on any module path. The installed CLI builds
 * a namespace environment from a rootfs tarball and execs in it, with the native launcher
 * from @karapace/native's prebuilt binaries; karapace-server starts. Then a project installs
 * the example third-party backend (examples/plugins/karapace-backend-unshare, no kernel
 * import) and the example org preset that brings it, from their packed tarballs, and
 * overrides the preset's plugin options: the installed CLI builds and execs through it.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../helpers/busybox-rootfs.js';
import { asUser, installGlobal, npmInstall, pack, pathWithoutCompiler } from '../helpers/installed-cli.js';
import { identitiesUnavailable, identity } from '../plugins/runtime-namespace/harness.js';

const skip = identitiesUnavailable() ?? busyboxRootfsUnavailable();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

(skip ? test.skip : test)('the packed tarballs install for an unprivileged user without a C compiler, and karapace builds and execs a namespace env', async (t) => {
  const user = identity('user');
  const work = mkdtempSync('/tmp/kp-install-');
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  chmodSync(work, 0o755);
  const tools = pathWithoutCompiler(join(work, 'tools'));
  const who = { user: user.name, home: user.home, uid: user.uid, gid: user.gid, path: tools };
  const [sh, ...probe] = asUser(who, { PATH: tools }, ['sh', '-c', 'command -v gcc || command -v cc || command -v make']);
  const noCompiler = spawnSync(sh!, probe, { encoding: 'utf8' });
  t.not(noCompiler.status, 0, `a compiler is on the user's PATH: ${noCompiler.stdout}`);

  const tarballs = pack(join(work, 'pack'));
  t.deepEqual(tarballs.map((f) => f.replace(/.*\//, '').replace(/-\d.*/, '')).sort(), [
    'karapace-app-export', 'karapace-cli', 'karapace-dbus', 'karapace-image-sources', 'karapace-kernel', 'karapace-native', 'karapace-remote-http',
    'karapace-remote-oci', 'karapace-runtime-mock', 'karapace-runtime-namespace', 'karapace-runtime-oci',
  ]);
  const prefix = join(work, 'prefix');
  mkdirSync(prefix);
  chownSync(prefix, user.uid, user.gid);
  const installMs = installGlobal(who, prefix, tarballs, work);
  t.log(`npm install -g of ${tarballs.length} tarballs: ${(installMs / 1000).toFixed(1)} s`);

  const native = join(prefix, 'lib/node_modules/@karapace/native');
  t.false(existsSync(join(native, 'build')), 'nothing was compiled at install');
  t.true(existsSync(join(native, `prebuilt/linux-${process.arch}/karapace-sandbox`)));

  const project = join(work, 'project');
  mkdirSync(project);
  const tar = spawnSync('tar', ['-C', busyboxRootfs(), '-czf', join(project, 'rootfs.tar.gz'), '.']);
  t.is(tar.status, 0, String(tar.stderr));
  writeFileSync(join(project, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "./rootfs.tar.gz"\n[runtime]\nbackend = "namespace"\n');
  for (const f of ['', 'karapace.toml', 'rootfs.tar.gz']) chownSync(join(project, f), user.uid, user.gid);

  const env = {
    PATH: `${prefix}/bin:${tools}`,
    HOME: user.home,
    USER: user.name,
    LANG: 'C.UTF-8',
    KARAPACE_STORE: join(work, 'store'),
    XDG_CONFIG_HOME: join(work, 'config'),
    XDG_CACHE_HOME: join(work, 'cache'),
  };
  for (const d of [env.KARAPACE_STORE, env.XDG_CONFIG_HOME, env.XDG_CACHE_HOME]) {
    mkdirSync(d);
    chownSync(d, user.uid, user.gid);
  }
  const karapace = (args: string[], cwd = project, extra: Record<string, string> = {}): Run => {
    const [cmd, ...rest] = asUser(who, { ...env, ...extra }, ['karapace', ...args]);
    const r = spawnSync(cmd!, rest, { cwd, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };

  const built = karapace(['build', '--name', 'bb', '--json']);
  t.is(built.code, 0, built.stderr);
  t.is(JSON.parse(built.stdout).backend, 'namespace');
  // As the user: with full id mapping the image's files are root's inside, so the write goes to a 1777 directory.
  const exec = karapace(['exec', 'bb', '--', 'sh', '-c', 'echo $((6 * 7)) > /var/tmp/answer; cat /var/tmp/answer; grep ^NAME= /etc/os-release; exit 3']);
  t.is(exec.code, 3, exec.stderr);
  t.is(exec.stdout, '42\nNAME="BusyBox test rootfs"\n');
  const again = karapace(['exec', 'bb', '--', 'cat', '/var/tmp/answer']);
  t.is(again.stdout, '42\n', 'the write landed in the env');
  // The installed command is the native front door: a repeated exec runs from its plan (the
  // Node runs it handed over to wrote it), without Node.
  t.is(readFileSync(realpathSync(join(prefix, 'bin/karapace'))).subarray(0, 4).toString('latin1'), '\x7fELF');
  const fromPlan = [1, 2, 3].map(() => karapace(['exec', 'bb', '--', 'cat', '/var/tmp/answer'], project, { KARAPACE_FRONT_DOOR_DEBUG: '1' }));
  t.true(fromPlan.every((r) => r.code === 0 && r.stdout === '42\n'), JSON.stringify(fromPlan));
  t.false(fromPlan[2]!.stderr.includes('handing over to Node'), fromPlan[2]!.stderr);

  // The launcher comes from the installed package, nothing from the repository.
  const doctor = JSON.parse(karapace(['doctor', '--json']).stdout) as { checks: { title: string; status: string; detail: string }[] };
  const launcher = doctor.checks.find((c) => c.title.includes('karapace-sandbox'));
  t.is(launcher?.status, 'ok');
  t.is(launcher?.detail, join(native, `prebuilt/linux-${process.arch}/karapace-sandbox`));
  t.false(JSON.stringify(doctor).includes(realpathSync(REPO)), 'the installed CLI refers to nothing in the repository');

  // karapace-server comes with the CLI package.
  const [cmd, ...rest] = asUser(who, env, ['karapace-server', '--dir', join(work, 'remote'), '--port', '0', '--anonymous-read']);
  mkdirSync(join(work, 'remote'));
  chownSync(join(work, 'remote'), user.uid, user.gid);
  const server = spawn(cmd!, rest, { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.on('exit', (code) => reject(new Error(`karapace-server exited ${code}`)));
  });
  t.teardown(() => server.kill());
  const health = await fetch(`${url}/healthz`);
  t.deepEqual(await health.json(), { ok: true, protocol: 'v1', features: ['batch'] });
  t.deepEqual(await (await fetch(`${url}/v1/refs`)).json(), { refs: [] });

  // A third-party backend and the org preset that brings it, installed from their tarballs.
  const examples = pack(join(work, 'pack-examples'), ['karapace-backend-unshare', 'acme-preset'].map((d) => join(REPO, 'examples/plugins', d)));
  const org = join(work, 'org-project');
  mkdirSync(join(org, 'ws'), { recursive: true });
  writeFileSync(join(org, 'package.json'), JSON.stringify({ name: 'org-project', private: true }));
  writeFileSync(join(org, 'ws', 'notes'), 'from the host\n');
  const tar2 = spawnSync('cp', [join(project, 'rootfs.tar.gz'), join(org, 'rootfs.tar.gz')]);
  t.is(tar2.status, 0);
  // The preset picks the backend and sets the plugin's options; the project overrides them.
  writeFileSync(join(org, '.karapacerc.json'), JSON.stringify({
    extends: '@acme/karapace-preset',
    plugins: [['karapace-backend-unshare', { environment: { ACME_GREETING: 'hello from the project' } }]],
  }));
  writeFileSync(join(org, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "./rootfs.tar.gz"\n[mounts]\nws = "./ws:/ws:ro"\n');
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, org]);
  npmInstall(who, examples, org);
  t.true(existsSync(join(org, 'node_modules/karapace-backend-unshare/index.js')));

  const orgBuilt = karapace(['build', '--name', 'org', '--json'], org);
  t.is(orgBuilt.code, 0, orgBuilt.stderr);
  t.is(JSON.parse(orgBuilt.stdout).backend, 'unshare', 'the preset chose the backend');
  const orgExec = karapace(['exec', 'org', '--', 'sh', '-c', 'echo "$ACME_GREETING"; cat /ws/notes; grep ^NAME= /etc/os-release'], org);
  t.is(orgExec.code, 0, orgExec.stderr);
  t.is(orgExec.stdout, 'hello from the project\nfrom the host\nNAME="BusyBox test rootfs"\n');
  const shown = karapace(['config', '--show-origin'], org).stdout;
  t.true(shown.includes(`${join(org, 'node_modules/@acme/karapace-preset/preset.json')}\tdefaultBackend = "unshare"`), shown);
  // The plugin asks for a kernel API this CLI provides; a project asking the backend for limits is refused.
  writeFileSync(join(org, 'karapace.toml'), 'manifest_version = 1\n[base]\nimage = "./rootfs.tar.gz"\n[runtime.resource_limits]\nmemory_limit_mb = 256\n');
  const refused = karapace(['build'], org);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /backend "unshare" \(plugin "karapace-backend-unshare"\) does not support runtime\.resource_limits\.memory_limit_mb/);
});
