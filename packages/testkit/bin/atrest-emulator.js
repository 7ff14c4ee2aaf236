#!/usr/bin/env node
// Committed launcher: package managers link bins at install time, before `tsc -b` has built dist/.
import '../dist/src/emulator-bin.js';
