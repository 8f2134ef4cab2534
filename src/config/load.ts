/**
 * Reads a gateway config file: YAML -> zod validation -> secret references resolved -> paths made
 * absolute. Every problem is reported as `FILE:LINE: key.path: what is wrong`, and the whole file is
 * refused (AgwError 'bad_input', exit 65): a gateway never starts on a config it half understands.
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { LineCounter, isNode, parseDocument, type Document } from 'yaml'
import type { ZodError } from 'zod'
import { AgwError } from '../errors.js'
import { isLoopbackHost, splitHostPort } from '../net.js'
import { DETECTOR_NAMES } from '../policy/detectors.js'
import { nearest, unknownKindProblem } from '../policy/kinds.js'
import { functionGlobProblem } from '../policy/rules.js'
import { configSchema, type GatewayConfig } from './schema.js'

export interface LoadedConfig {
  config: GatewayConfig
  /** Absolute path of the file, for messages. */
  file: string
}

type PathKey = string | number

function formatPath(path: readonly PathKey[]): string {
  let out = ''
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key
  return out || '(top level)'
}

/** Line (1-based) of the node at `path`, or of its nearest existing ancestor. */
function lineOf(doc: Document, counter: LineCounter, path: readonly PathKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true)
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line
  }
  return undefined
}

function problem(file: string, line: number | undefined, path: readonly PathKey[], message: string): string {
  return `${file}${line ? `:${line}` : ''}: ${formatPath(path)}: ${message}`
}

function zodProblems(err: ZodError, file: string, doc: Document, counter: LineCounter): string[] {
  return err.issues.map((issue) => {
    const path = issue.path.filter((p): p is PathKey => typeof p === 'string' || typeof p === 'number')
    if (issue.code === 'unrecognized_keys') {
      // Point at the first unknown key itself, not at the object holding it.
      const line = lineOf(doc, counter, [...path, issue.keys[0] as string])
      return problem(file, line, path, `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`)
    }
    return problem(file, lineOf(doc, counter, path), path, issue.message)
  })
}

/**
 * Resolves `env:NAME` and `file:PATH` references. Literals are accepted (for local setups) but the
 * docs steer people to references. Never logs a resolved value.
 */
export function resolveSecret(ref: string, baseDir: string): string {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4)
    const value = process.env[name]
    if (value === undefined) throw new Error(`environment variable ${name} is not set`)
    return value
  }
  if (ref.startsWith('file:')) {
    const path = resolve(baseDir, ref.slice(5))
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
    } catch (err) {
      throw new Error(`cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
  }
  return ref
}

/** Checks that zod cannot express: cross-field rules, uniqueness, plain HTTP only on loopback. */
function semanticProblems(config: GatewayConfig, file: string, doc: Document, counter: LineCounter): string[] {
  const out: string[] = []
  const at = (path: PathKey[], msg: string) => out.push(problem(file, lineOf(doc, counter, path), path, msg))
  const { host } = splitHostPort(config.listen)
  if (!config.tls && !isLoopbackHost(host)) {
    at(['listen'], `plain HTTP is only allowed on a loopback address; set tls.cert and tls.key to listen on ${host}`)
  }
  const seen = new Map<string, number>()
  config.connections.forEach((c, i) => {
    const prev = seen.get(c.name)
    if (prev !== undefined) at(['connections', i, 'name'], `duplicate connection name "${c.name}" (also connections[${prev}])`)
    seen.set(c.name, i)
    if (c.type === 'postgres' || c.type === 'mysql') {
      if (!c.target.user) at(['connections', i, 'target', 'user'], `a ${c.type} connection needs target.user`)
      if (!c.target.database && c.type === 'postgres') at(['connections', i, 'target', 'database'], 'a postgres connection needs target.database')
    }
    c.dangerousFunctions?.forEach((f, n) => {
      const p = functionGlobProblem(f)
      if (p) at(['connections', i, 'dangerousFunctions', n], p)
    })
    c.masking?.detectors.forEach((d, n) => {
      if (d === 'all' || DETECTOR_NAMES.includes(d)) return
      const guess = nearest(d, [...DETECTOR_NAMES, 'all'])
      const hint = guess ? `did you mean ${guess}?` : `known: ${DETECTOR_NAMES.join(', ')}, all`
      at(['connections', i, 'masking', 'detectors', n], `unknown detector "${d}"; ${hint}`)
    })
    c.rules.forEach((r, j) => {
      if (r.action === 'review' && (!r.reviewers || r.reviewers.length === 0)) {
        at(['connections', i, 'rules', j, 'reviewers'], 'a review rule needs reviewers (the groups that may approve)')
      }
      // A rule naming a kind, detail or function that can never occur could never match (SPEC 3).
      r.match.statement?.forEach((k, n) => {
        const p = unknownKindProblem(k)
        if (p) at(['connections', i, 'rules', j, 'match', 'statement', n], p)
      })
      r.match.functions?.forEach((f, n) => {
        const p = functionGlobProblem(f)
        if (p) at(['connections', i, 'rules', j, 'match', 'functions', n], p)
      })
      if (r.match.regex !== undefined) {
        try {
          new RegExp(r.match.regex)
        } catch (err) {
          at(['connections', i, 'rules', j, 'match', 'regex'], `not a valid regular expression: ${(err as Error).message}`)
        }
      }
    })
  })
  for (const [i, iss] of config.identity.issuers.entries()) {
    const u = new URL(iss.issuer)
    if (u.protocol === 'http:' && !isLoopbackHost(u.hostname)) {
      at(['identity', 'issuers', i, 'issuer'], 'an issuer must use https (plain http only on a loopback address)')
    }
  }
  return out
}

export interface ParseOptions {
  /**
   * false leaves `env:`/`file:` references unresolved: for tools that only read the store
   * (`agw audit export`), which must not need the gateway's target passwords or sink tokens.
   */
  resolveSecrets?: boolean
}

/** Parses and validates config text. `file` names the source in messages; paths resolve against `baseDir`. */
export function parseConfig(text: string, file: string, baseDir: string, opts: ParseOptions = {}): GatewayConfig {
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`)
    throw new AgwError('bad_input', `invalid YAML in ${file}:\n  ${lines.join('\n  ')}`)
  }
  const parsed = configSchema.safeParse(doc.toJS() ?? {})
  if (!parsed.success) {
    const problems = zodProblems(parsed.error, file, doc, counter)
    throw new AgwError('bad_input', `invalid gateway config:\n  ${problems.join('\n  ')}`)
  }
  const config = parsed.data
  const problems = semanticProblems(config, file, doc, counter)
  // Secrets: resolve now so a missing variable is reported at start, with its line.
  config.connections.forEach((c, i) => {
    if (c.target.password === undefined || opts.resolveSecrets === false) return
    try {
      c.target.password = resolveSecret(c.target.password, baseDir)
    } catch (err) {
      const path = ['connections', i, 'target', 'password']
      problems.push(problem(file, lineOf(doc, counter, path), path, (err as Error).message))
    }
  })
  config.audit.sinks.forEach((s, i) => {
    if (s.type !== 'webhook' || s.token === undefined || opts.resolveSecrets === false) return
    try {
      s.token = resolveSecret(s.token, baseDir)
    } catch (err) {
      const path = ['audit', 'sinks', i, 'token']
      problems.push(problem(file, lineOf(doc, counter, path), path, (err as Error).message))
    }
  })
  if (problems.length > 0) throw new AgwError('bad_input', `invalid gateway config:\n  ${problems.join('\n  ')}`)
  // Relative paths are relative to the config file, not to the working directory.
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p))
  if (config.storage.url.startsWith('sqlite:')) config.storage.url = `sqlite:${abs(config.storage.url.slice(7))}`
  config.encryption.keyFile = abs(config.encryption.keyFile)
  if (config.tls) config.tls = { cert: abs(config.tls.cert), key: abs(config.tls.key) }
  for (const s of config.audit.sinks) {
    if (s.type === 'file') s.path = abs(s.path)
    if (s.type === 'syslog' && s.tls) for (const k of ['ca', 'cert', 'key'] as const) if (s.tls[k]) s.tls[k] = abs(s.tls[k])
  }
  return config
}

export function loadConfig(path: string, opts: ParseOptions = {}): LoadedConfig {
  const file = resolve(path)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new AgwError('bad_input', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  return { config: parseConfig(text, file, dirname(file), opts), file }
}
