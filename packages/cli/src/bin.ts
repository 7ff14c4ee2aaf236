#!/usr/bin/env node
// The `atrest` executable: the only place that calls process.exit (output is flushed by then).
import { runCli } from './cli.js';

// The AWS SDK warns on every run that its future versions need Node 22; on the command line that is
// noise in every command's output (the provider README documents it); `status` says it once, in
// atrest's words. The SDK takes exactly "true". An operator's setting wins.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

process.exit(await runCli(process.argv.slice(2)));
