/** Structured logs (pino, JSON lines on stderr). Nothing secret is logged: tokens and passwords are redacted by path too. */
import { pino, type Logger } from 'pino'

export type { Logger }

export function createLogger(level: string = process.env.AGW_LOG_LEVEL ?? 'info', destination = 2): Logger {
  return pino(
    {
      level,
      base: { svc: 'agw-gateway' },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'password', '*.password', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: destination, sync: false }),
  )
}

export const silentLogger: Logger = pino({ level: 'silent' })
