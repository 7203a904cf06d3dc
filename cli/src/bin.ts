#!/usr/bin/env node
// The one place that sets the process exit code.
import * as nodeModule from 'node:module';

// Node 22+ caches compiled code between runs; start-up is a feature, take it when offered.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const args = process.argv.slice(2);
const { parseFastPath, runFastPath } = await import('./fast-exec.js');
const fast = parseFastPath(args);
// exec and a warm build skip the full command-line parser; everything else goes through clipanion.
const code = fast ? await runFastPath(fast) : undefined;
process.exitCode = code ?? (await (await import('./cli.js')).runCli(args));
