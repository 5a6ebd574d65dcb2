// Columns of values as PostgreSQL array literals, the text form `{"a","b",NULL,12}` that
// `$1::text[]` (or any element type) parses: https://www.postgresql.org/docs/15/arrays.html#ARRAYS-IO
// A batch insert binds one array per column and unnests them. node-postgres can encode a JS
// array itself, but it walks it through a generic converter that quotes and escapes every element
// with two regular expressions; a batch of 2,000 usage records has 70,000 values, so that walk was
// a fifth of the spool writer's time on PostgreSQL. Here each column is one string built as the
// rows arrive: numbers go bare, null is NULL, and only text holding a quote or a backslash is
// escaped (inside double quotes nothing else is special).

const SPECIAL = /["\\]/;
const SPECIALS = /["\\]/g;

/** One element of an array literal. Integers only: a non-integer number is a caller's bug. */
export function elementLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      if (!Number.isSafeInteger(v)) throw new TypeError(`not an integer for an array literal: ${v}`);
      return String(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return SPECIAL.test(v) ? `"${v.replace(SPECIALS, '\\$&')}"` : `"${v}"`;
    default:
      throw new TypeError(`no array literal for a ${typeof v}`);
  }
}

/** Rows of `width` values, gathered into one array literal per column. */
export class ColumnLiterals {
  readonly #columns: string[];
  #rows = 0;

  constructor(readonly width: number) {
    this.#columns = Array.from({ length: width }, () => '');
  }

  get rows(): number {
    return this.#rows;
  }

  /** Appends the values `row[0..]` to the columns from `first` on (a row may come in parts). */
  add(row: readonly unknown[], first = 0): this {
    // Each column gets one element per row, so a column has elements already once a row is done.
    const sep = this.#rows === 0 ? '' : ',';
    const c = this.#columns;
    for (let k = 0; k < row.length; k++) c[first + k] += sep + elementLiteral(row[k]);
    if (first + row.length === this.width) this.#rows++;
    return this;
  }

  /** The columns' literals: `{…}` each. */
  literals(): string[] {
    return this.#columns.map((c) => `{${c}}`);
  }
}

/** Rows of `width` values → one array literal per column, for an `unnest` insert or update. */
export function columnLiterals(rows: readonly (readonly unknown[])[], width: number): string[] {
  const out = new ColumnLiterals(width);
  for (const r of rows) out.add(r);
  return out.literals();
}
