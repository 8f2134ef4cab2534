/** The package version, read once from package.json (found by walking up from this file). */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageJson(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'package.json')
    if (existsSync(p)) return p
    dir = dirname(dir)
  }
  return undefined
}

const pkgPath = findPackageJson()
export const PACKAGE_ROOT = pkgPath ? dirname(pkgPath) : process.cwd()
export const VERSION: string = pkgPath ? (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version : '0.0.0'
