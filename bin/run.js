#!/usr/bin/env node
// The agw CLI. oclif runs the command; agw's own errors (AgwError: a code, a message that says what
// to do next, an exit code from the SPEC) are printed as one "agw: ..." line, everything else goes
// to oclif's handler, but usage errors, which exit 65 like all bad input.
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
  // A usage error (unknown flag, missing argument, a value the flag does not take): oclif exits 2;
  // the SPEC's exit code for bad input is 65.
  if (exit === 2 && process.env.DEBUG === undefined) {
    process.stderr.write(`agw: ${String(error.message).replace(/\n+/g, '\nagw: ')}\n`)
    process.exit(65)
  }
  await handle(error)
}
