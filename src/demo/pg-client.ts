/**
 * The demo agent where psql is not installed: runs its steps in order on one node-postgres
 * connection (the PG* environment `agw exec` exported), printing roughly what `psql -e` prints:
 * each statement, then its rows as a small table or its command tag; notices and errors on stderr
 * with their SQLSTATE. A step `\echo TEXT` prints TEXT. Like psql without ON_ERROR_STOP, an error
 * does not stop the script; the exit code is that of the last step.
 *
 *   node pg-client.js "\echo == look around" "select count(*) from customers" "drop table x"
 */
import pg from 'pg'

function table(fields: string[], rows: string[][]): string {
  const widths = fields.map((c, i) => Math.max(c.length, ...rows.map((row) => (row[i] as string).length)))
  const line = (cells: string[]) => ` ${cells.map((v, i) => v.padEnd(widths[i] as number)).join(' | ')} `
  return [line(fields), widths.map((w) => '-'.repeat(w + 2)).join('+'), ...rows.map(line)].join('\n') + '\n\n'
}

async function main(): Promise<number> {
  const steps = process.argv.slice(2)
  if (steps.length === 0) {
    process.stderr.write('usage: pg-client STEP... (SQL, or "\\echo TEXT")\n')
    return 2
  }
  const client = new pg.Client()
  client.on('notice', (n) => process.stderr.write(`NOTICE:  ${n.code ? `${n.code}: ` : ''}${n.message}\n`))
  await client.connect()
  let last = 0
  try {
    for (const step of steps) {
      if (step.startsWith('\\echo')) {
        process.stdout.write(`${step.slice(5).trim()}\n`)
        last = 0
        continue
      }
      process.stdout.write(`${step}\n`)
      try {
        const r = await client.query({ text: step, rowMode: 'array' })
        if (r.fields.length > 0) {
          const rows = (r.rows as unknown[][]).map((row) => row.map((v) => (v === null ? '' : String(v))))
          process.stdout.write(table(r.fields.map((f) => f.name), rows))
        } else {
          process.stdout.write(`${r.command}${r.command === 'INSERT' ? ' 0' : ''} ${r.rowCount ?? 0}\n`)
        }
        last = 0
      } catch (err) {
        const e = err as { code?: string; message: string; detail?: string; hint?: string }
        process.stderr.write(`ERROR:  ${e.code ? `${e.code}: ` : ''}${e.message}\n${e.detail ? `DETAIL:  ${e.detail}\n` : ''}${e.hint ? `HINT:  ${e.hint}\n` : ''}`)
        last = 1
      }
    }
    return last
  } finally {
    await client.end()
  }
}

process.exitCode = await main()
