/**
 * PostgreSQL v3 wire protocol constants (PostgreSQL documentation, "Frontend/Backend Protocol",
 * sections "Message Formats" and "Error and Notice Message Fields").
 *
 * Type bytes are named per direction because the same byte means different things: 'D' is
 * Describe from the client but DataRow from the server, 'C' is Close / CommandComplete, 'E' is
 * Execute / ErrorResponse, 'S' is Sync / ParameterStatus, 'H' is Flush / CopyOutResponse.
 */

/** Message type bytes sent by the client (frontend). */
export const FrontendType = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** PasswordMessage, GSSResponse, SASLInitialResponse and SASLResponse all use 'p'. */
  Password: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const

/** Message type bytes sent by the server (backend). */
export const BackendType = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const

/** Protocol version numbers: major in the high 16 bits, minor in the low 16. */
export const PROTOCOL_3_0 = 196608 // 3 << 16
export const PROTOCOL_3_2 = 196610 // (3 << 16) | 2; PostgreSQL 18, longer cancel keys
/** Request codes that take the protocol version's place in an untyped startup-phase message. */
export const CANCEL_REQUEST_CODE = 80877102 // 1234.5678
export const SSL_REQUEST_CODE = 80877103 // 1234.5679
export const GSSENC_REQUEST_CODE = 80877104 // 1234.5680

/**
 * The single byte (not a framed message) a server answers SSLRequest ('S' or 'N') and
 * GSSENCRequest ('G' or 'N') with. A backend framer must not see it: read it before framing.
 */
export const EncryptionResponse = { SSLAccept: 0x53, GSSAccept: 0x47, Reject: 0x4e } as const

/** PostgreSQL refuses a startup-phase message longer than this (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_LENGTH = 10000
/** Default limit for one typed message: 1 GiB, PostgreSQL's own allocation limit. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1 << 30
/** Cancel keys (BackendKeyData, CancelRequest): exactly 4 bytes in 3.0, 4 to 256 bytes in 3.2. */
export const MIN_CANCEL_KEY_LENGTH = 4
export const MAX_CANCEL_KEY_LENGTH = 256

/** Authentication request subtype codes (the Int32 after 'R'). */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const

/** ReadyForQuery transaction status bytes. */
export const TransactionStatus = { Idle: 'I', InTransaction: 'T', Failed: 'E' } as const
export type TransactionStatusByte = (typeof TransactionStatus)[keyof typeof TransactionStatus]

/** Describe / Close target bytes. */
export const Target = { Statement: 'S', Portal: 'P' } as const
export type TargetByte = (typeof Target)[keyof typeof Target]

/** ErrorResponse / NoticeResponse field codes ("Error and Notice Message Fields"). */
export const ErrorField = {
  severity: 'S',
  severityNonLocalized: 'V',
  code: 'C',
  message: 'M',
  detail: 'D',
  hint: 'H',
  position: 'P',
  internalPosition: 'p',
  internalQuery: 'q',
  where: 'W',
  schema: 's',
  table: 't',
  column: 'c',
  dataType: 'd',
  constraint: 'n',
  file: 'F',
  line: 'L',
  routine: 'R',
} as const

/** `'Q' (0x51)`: a message type byte for error messages. */
export function describeType(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0')}`
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}' (${hex})` : hex
}
