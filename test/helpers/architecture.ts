// The import graph of the source tree, read with the TypeScript parser (every static import and
// export-from, and import() of a string literal), and the rules the architecture holds to.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface SourceFile {
  /** Path relative to the repository root, e.g. 'src/gateway/failover.ts'. */
  readonly path: string;
  readonly text: string;
}

export interface Edge {
  readonly from: string;
  /** A repository path ('src/admin/index.ts') for relative imports, else the bare specifier ('node:http'). */
  readonly to: string;
}

export function readTree(root: string, dirs: readonly string[]): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts'))
        out.push({ path: relative(root, p), text: readFileSync(p, 'utf8') });
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function specifiers(file: SourceFile): string[] {
  const sf = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier)
      out.push((node.moduleSpecifier as ts.StringLiteral).text);
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    )
      out.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export function importGraph(files: readonly SourceFile[]): Edge[] {
  const edges: Edge[] = [];
  for (const f of files)
    for (const spec of specifiers(f)) {
      if (!spec.startsWith('.')) {
        edges.push({ from: f.path, to: spec });
        continue;
      }
      const target = resolve('/', dirname(f.path), spec).slice(1).replace(/\.js$/, '.ts');
      edges.push({ from: f.path, to: target });
    }
  return edges;
}

/** The top folder of a source path: 'src/gateway/x.ts' → 'gateway'; 'sim/x.ts' → 'sim'. */
export function areaOf(path: string): string {
  const parts = path.split('/');
  if (parts[0] !== 'src') return parts[0]!;
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '');
}

interface Rule {
  readonly why: string;
  readonly from: (path: string) => boolean;
  readonly to: (target: string) => boolean;
}

const inSrc = (p: string) => p.startsWith('src/');
const area =
  (...names: string[]) =>
  (p: string) =>
    inSrc(p) && names.includes(areaOf(p));

export const RULES: readonly Rule[] = [
  {
    why: 'ledger, routing, providers and agreements are the core: they know nothing of HTTP serving',
    from: area('ledger', 'routing', 'providers', 'agreements'),
    to: (t) =>
      t === 'node:http' ||
      t === 'http' ||
      t === 'node:http2' ||
      area('gateway', 'admin', 'server', 'console')(t),
  },
  {
    why: 'the data plane does not reach into the admin API',
    from: area('gateway'),
    to: area('admin', 'server'),
  },
  {
    why: 'the admin API does not reach into the data plane',
    from: area('admin'),
    to: area('gateway', 'server'),
  },
  { why: 'the product does not depend on its simulators', from: inSrc, to: (t) => t.startsWith('sim/') },
];

export interface Violation {
  readonly edge: Edge;
  readonly why: string;
}

export function ruleViolations(edges: readonly Edge[]): Violation[] {
  return edges.flatMap((edge) =>
    RULES.filter((r) => r.from(edge.from) && r.to(edge.to)).map((r) => ({ edge, why: r.why })),
  );
}

/** Every import cycle among the given files (Tarjan's strongly connected components). */
export function importCycles(
  edges: readonly Edge[],
  nodeOf: (path: string) => string = (p) => p,
): string[][] {
  const adj = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!e.to.includes('/')) continue; // packages and node: builtins
    const a = nodeOf(e.from);
    const b = nodeOf(e.to);
    if (a === b) continue;
    if (!adj.has(a)) adj.set(a, new Set());
    adj.get(a)!.add(b);
  }
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of adj.keys()) if (!idx.has(v)) strong(v);
  return out;
}

export interface LongFunction {
  readonly path: string;
  readonly name: string;
  readonly lines: number;
}

/** Functions, methods and arrow functions longer than `maxLines` (nested ones counted on their own). */
export function longFunctions(files: readonly SourceFile[], maxLines: number): LongFunction[] {
  const out: LongFunction[] = [];
  for (const f of files) {
    const sf = ts.createSourceFile(f.path, f.text, ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        const name = (node as { name?: ts.Node }).name?.getText(sf) ?? '(anonymous)';
        if (end - start + 1 > maxLines) out.push({ path: f.path, name, lines: end - start + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}
