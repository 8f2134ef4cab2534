#!/usr/bin/env -S node --import tsx
// The agw CLI from the TypeScript sources (development; errors print with stacks).
import { execute } from '@oclif/core'

await execute({ development: true, dir: import.meta.url })
