/**
 * Sans-I/O codec for the PostgreSQL v3 wire protocol, both directions: framing
 * (MessageFramer), client messages (frontend.ts), server messages (backend.ts).
 */
export * from './constants.js'
export { MessageFramer } from './framer.js'
export type { Frame, FramerOptions } from './framer.js'
export {
  checkCancelKey,
  decodeFrontend,
  decodePassword,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeStartupPhase,
  encodeCancelRequest,
  encodeFrontend,
  encodeGSSENCRequest,
  encodePassword,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartup,
  formatAt,
} from './frontend.js'
export type { FrontendMessage, FrontendMessageType, StartupPhaseMessage } from './frontend.js'
export {
  dataRowColumnCount,
  decodeBackend,
  encodeBackend,
  encodeDataRow,
  encodeErrorResponse,
  encodeNoticeResponse,
  encodeReadyForQuery,
  errorFieldRecord,
  forEachDataRowValue,
  namedErrorFields,
} from './backend.js'
export type {
  AuthenticationMessage,
  BackendMessage,
  BackendMessageType,
  CopyResponseFields,
  ErrorFields,
  RowDescriptionField,
} from './backend.js'
export { Reader, Writer } from './writer.js'
