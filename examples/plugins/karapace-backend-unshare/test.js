// The backend conformance suite, one import (node --test; any runner with test(name, fn)).
// KARAPACE_TEST_ROOTFS: a root filesystem directory with /bin/sh (busybox, a Debian minbase).
import test from 'node:test';
import { conformanceSuite } from '@karapace/kernel/testing';
import plugin from './index.js';

const image = process.env.KARAPACE_TEST_ROOTFS;
if (!image) throw new Error('set KARAPACE_TEST_ROOTFS to a root filesystem directory with /bin/sh');
conformanceSuite(test, { plugins: [plugin], backend: 'unshare', image });
