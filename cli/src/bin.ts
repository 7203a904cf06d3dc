#!/usr/bin/env node
// The one place that sets the process exit code.
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
