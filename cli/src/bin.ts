#!/usr/bin/env node
// The full CLI (clipanion and every command). The executable users run is karapace.cts,
// which serves the fast paths first and imports this (bundled as karapace.js) for the rest.
// The one place that sets the process exit code.
import * as nodeModule from 'node:module';

// Node 22+ caches compiled code between runs; start-up is a feature, take it when offered.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

process.exitCode = await (await import('./cli.js')).runCli(process.argv.slice(2));
