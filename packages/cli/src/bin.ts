#!/usr/bin/env node
// The `atrest` executable: the only place that calls process.exit (output is flushed by then).
import { runCli } from './cli.js';

process.exit(await runCli(process.argv.slice(2)));
