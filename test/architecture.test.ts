// The architecture, held by test over the real import graph: the core knows nothing of HTTP
// serving, the data plane and the admin API do not import each other, nothing in src/ depends on
// the simulators, no import cycles, and the request path is made of short functions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  areaOf,
  importCycles,
  importGraph,
  longFunctions,
  readTree,
  ruleViolations,
  type SourceFile,
} from './helpers/architecture.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const files = readTree(root, ['src', 'sim']);
const edges = importGraph(files);
const show = (v: { edge: { from: string; to: string }; why: string }) =>
  `${v.edge.from} → ${v.edge.to}: ${v.why}`;

describe('architecture', () => {
  test('the tree was read (a guard against a vacuous pass)', () => {
    assert.ok(files.length > 100, `${files.length} files`);
    assert.ok(edges.some((e) => e.from === 'src/gateway/failover.ts' && e.to === 'src/providers/index.ts'));
  });

  test('no forbidden import', () => {
    assert.deepEqual(ruleViolations(edges).map(show), []);
  });

  test('no import cycle between files, nor between top-level folders of src/', () => {
    assert.deepEqual(importCycles(edges), []);
    const srcEdges = edges.filter((e) => e.from.startsWith('src/'));
    assert.deepEqual(importCycles(srcEdges, areaOf), []);
  });

  test('no function under src/gateway/ is longer than 80 lines', () => {
    const gateway = files.filter((f) => f.path.startsWith('src/gateway/'));
    assert.deepEqual(longFunctions(gateway, 80), []);
  });

  test('the rules catch what they forbid (each rule, on a planted import)', () => {
    const planted: SourceFile[] = [
      { path: 'src/gateway/x.ts', text: "import { adminRoutes } from '../admin/index.js';" },
      { path: 'src/admin/y.ts', text: "import type { GatewayContext } from '../gateway/index.js';" },
      { path: 'src/ledger/z.ts', text: "import { createServer } from 'node:http';" },
      { path: 'src/routing/w.ts', text: "export * from '../gateway/index.js';" },
      { path: 'src/cli/v.ts', text: "const sim = await import('../../sim/index.js');" },
      { path: 'src/a/a.ts', text: "import { b } from '../b/b.js';" },
      { path: 'src/b/b.ts', text: "import { a } from '../a/a.js';" },
    ];
    const g = importGraph(planted);
    assert.equal(ruleViolations(g).length, 5);
    assert.deepEqual(importCycles(g), [['src/a/a.ts', 'src/b/b.ts']]);
    const long: SourceFile = {
      path: 'src/gateway/long.ts',
      text: `export function f() {\n${'  x();\n'.repeat(90)}}\n`,
    };
    assert.deepEqual(longFunctions([long], 80), [{ path: 'src/gateway/long.ts', name: 'f', lines: 92 }]);
  });
});
