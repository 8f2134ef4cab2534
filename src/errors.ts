/**
 * One error type for the whole library, with a code union (the jose / openid-client pattern).
 * Lower layers map their failures to an AgwError once; tests assert on `code`; the CLI maps the
 * code to an exit code from SPEC section 2 and prints `message`, which says what to do next.
 */
export type AgwErrorCode =
  | 'bad_input' // config, flags, malformed request (exit 65)
  | 'unauthenticated' // no token, expired, bad signature ... (exit 77)
  | 'forbidden' // authenticated but not allowed (exit 77)
  | 'unreachable' // gateway or target cannot be reached (exit 69)
  | 'review_denied' // a held statement was denied or expired (exit 75)
  | 'protocol' // a peer broke its protocol
  | 'internal'

export const EXIT_CODES: Record<AgwErrorCode, number> = {
  bad_input: 65,
  unauthenticated: 77,
  forbidden: 77,
  unreachable: 69,
  review_denied: 75,
  protocol: 69,
  internal: 70,
}

export class AgwError extends Error {
  readonly code: AgwErrorCode
  /** Read by the CLI's error handler (oclif) for the process exit code. */
  readonly oclif: { exit: number }

  constructor(code: AgwErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    // Shown as the header of the CLI's error output ("Error: ..."); `code` tells errors apart.
    this.name = 'Error'
    this.code = code
    this.oclif = { exit: EXIT_CODES[code] }
  }

  get exitCode(): number {
    return EXIT_CODES[this.code]
  }
}

export function isAgwError(err: unknown): err is AgwError {
  return err instanceof AgwError
}

/** A short, single-line description of any thrown value, for logs and messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message
  }
  return String(err)
}
