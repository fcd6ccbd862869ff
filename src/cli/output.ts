/**
 * Command output: a table for people on a terminal, JSON for scripts
 * (`--json`, or whenever stdout is not a terminal and the caller asks for it).
 */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | null | undefined;
}

export function printTable<T>(
  rows: T[],
  columns: Column<T>[],
  out: NodeJS.WritableStream = process.stdout,
): void {
  const cells = rows.map((row) => columns.map((c) => String(c.value(row) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  out.write(`${line(columns.map((c) => c.header.toUpperCase()))}\n`);
  for (const row of cells) out.write(`${line(row)}\n`);
}

export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints `rows` as JSON with --json, else as a table. */
export function printRows<T>(rows: T[], columns: Column<T>[], json: boolean | undefined): void {
  if (json) printJson(rows);
  else printTable(rows, columns);
}
