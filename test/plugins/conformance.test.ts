/**
 * The backend conformance suite of @karapace/kernel/testing, run the way a third party runs
 * it (one import, one call), against every built-in backend and the example third-party
 * backend in examples/plugins/: exit codes, signals, stdio, writes in the upper dir,
 * read-only when frozen, mounts, network isolation (checks of undeclared capabilities
 * assert that the kernel refuses such manifests).
 */
import test from 'ava';
import { conformanceSuite } from '@karapace/kernel/testing';
import { busyboxRootfs, busyboxRootfsUnavailable } from '../helpers/busybox-rootfs.js';
import { runcUnavailable } from './runtime-oci/fixtures.js';
import unsharePlugin from '../../examples/plugins/karapace-backend-unshare/index.js';

conformanceSuite(test, { backend: 'mock', image: 'mock:conformance', builtins: [{ module: '@karapace/runtime-mock', backends: ['mock'] }] });

const noRootfs = busyboxRootfsUnavailable();
if (noRootfs) {
  test.skip(`namespace, oci and unshare conformance: ${noRootfs}`, () => {});
} else {
  const image = busyboxRootfs();
  conformanceSuite(test, { backend: 'namespace', image, builtins: [{ module: '@karapace/runtime-namespace', backends: ['namespace'] }] });
  conformanceSuite(test, { backend: 'unshare', image, plugins: [unsharePlugin] });
  const noRunc = process.getuid?.() === 0 ? runcUnavailable() : 'the oci backend conformance runs as root here';
  if (noRunc) test.skip(`oci conformance: ${noRunc}`, () => {});
  else conformanceSuite(test, { backend: 'oci', image, builtins: [{ module: '@karapace/runtime-oci', backends: ['oci'] }], config: { '@karapace/runtime-oci': { runtime: 'runc' } } });
}
