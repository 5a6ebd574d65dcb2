#!/usr/bin/env node
// Runs the compiled CLI (npm run build compiles src/ into dist/).
import('../dist/src/cli/main.js');
