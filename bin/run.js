#!/usr/bin/env node
// The agw CLI. oclif runs the command; agw's own errors (AgwError: a code, a message that says what
// to do next, an exit code from the SPEC) are printed as one "agw: ..." line, everything else goes
// to oclif's handler.
import { flush, handle, run } from '@oclif/core'

try {
  await run(process.argv.slice(2), import.meta.url)
  await flush()
} catch (error) {
  const exit = error?.oclif?.exit
  if (typeof error?.code === 'string' && typeof exit === 'number' && error.code !== 'EEXIT' && !error.showHelp && process.env.DEBUG === undefined) {
    process.stderr.write(`agw: ${error.message}\n`)
    process.exit(exit)
  }
  await handle(error)
}
