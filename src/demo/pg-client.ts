/**
 * The demo agent where psql is not installed: runs one SQL statement with node-postgres against the
 * PG* environment `agw exec` exported, and prints the rows as a small table.
 */
import pg from 'pg'

async function main(): Promise<number> {
  const sql = process.argv[2]
  if (!sql) {
    process.stderr.write('usage: pg-client SQL\n')
    return 2
  }
  const client = new pg.Client()
  await client.connect()
  try {
    const r = await client.query(sql)
    const cols = r.fields.map((f) => f.name)
    const rows = r.rows.map((row: Record<string, unknown>) => cols.map((c) => String(row[c] ?? '')))
    const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => (row[i] as string).length)))
    process.stdout.write(`${cols.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')}\n`)
    process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('-+-')}\n`)
    for (const row of rows) process.stdout.write(`${row.map((v, i) => v.padEnd(widths[i] as number)).join(' | ')}\n`)
    return 0
  } catch (err) {
    process.stderr.write(`ERROR:  ${(err as Error).message}\n`)
    return 1
  } finally {
    await client.end()
  }
}

process.exitCode = await main()
