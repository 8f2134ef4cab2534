/**
 * Message fixtures for the PostgreSQL codec, built in code (the pg-protocol
 * `testing/test-buffers.ts` way).
 *
 * PostgreSQL documentation, "Frontend/Backend Protocol": section "Message Formats" (one entry
 * per message below), "Error and Notice Message Fields" (the error fixtures) and "Message Flow"
 * ("Start-up", "Extended Query", "COPY Operations", "Canceling Requests in Progress").
 *
 * `openTail`: the body ends in bytes that run to the end of the message (CopyData, SASL data,
 * cancel keys), so a longer (and sometimes a shorter) body is still a valid message; the
 * truncation and padding tests skip what is legal.
 */
import {
  encodeErrorResponse,
  encodeNoticeResponse,
  errorFieldRecord,
  MessageFramer,
  PROTOCOL_3_2,
} from '../../../../../src/protocols/postgres/codec/index.js'
import type {
  BackendMessage,
  Frame,
  FrontendMessage,
  StartupPhaseMessage,
} from '../../../../../src/protocols/postgres/codec/index.js'

export interface Fixture<M> {
  name: string
  message: M
  /** 'longer': extra bytes still make a valid message; 'both': shorter bodies do too. */
  openTail?: 'longer' | 'both'
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8')
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

export const frontendFixtures: Fixture<FrontendMessage>[] = [
  { name: 'Query', message: { type: 'Query', sql: 'select 1' } },
  { name: 'Query with non-ASCII text', message: { type: 'Query', sql: "select 'é☃😀' as \"naïve\"" } },
  { name: 'Query empty', message: { type: 'Query', sql: '' } },
  { name: 'Parse', message: { type: 'Parse', name: 's1', sql: 'select $1::int, $2', paramTypes: [23, 0] } },
  { name: 'Parse unnamed with an OID above 2^31', message: { type: 'Parse', name: '', sql: 'select $1', paramTypes: [4000000000] } },
  {
    name: 'Bind',
    message: {
      type: 'Bind',
      portal: '',
      statement: 's1',
      paramFormats: [1],
      params: [b('ab'), null],
      resultFormats: [],
    },
  },
  {
    name: 'Bind with per-column formats and an empty value',
    message: {
      type: 'Bind',
      portal: 'p1',
      statement: '',
      paramFormats: [0, 1, 0],
      params: [b('x'), hex('00000017'), b('')],
      resultFormats: [1, 0],
    },
  },
  { name: 'Describe statement', message: { type: 'Describe', target: 'S', name: 's1' } },
  { name: 'Describe portal', message: { type: 'Describe', target: 'P', name: '' } },
  { name: 'Execute', message: { type: 'Execute', portal: '', maxRows: 0 } },
  { name: 'Execute with a row limit', message: { type: 'Execute', portal: 'p1', maxRows: 100 } },
  { name: 'Close statement', message: { type: 'Close', target: 'S', name: 's1' } },
  { name: 'Close portal', message: { type: 'Close', target: 'P', name: 'p1' } },
  { name: 'Sync', message: { type: 'Sync' } },
  { name: 'Flush', message: { type: 'Flush' } },
  { name: 'Terminate', message: { type: 'Terminate' } },
  { name: 'CopyData', message: { type: 'CopyData', data: b('1\talice\n') }, openTail: 'both' },
  { name: 'CopyData empty', message: { type: 'CopyData', data: Buffer.alloc(0) }, openTail: 'longer' },
  { name: 'CopyDone', message: { type: 'CopyDone' } },
  { name: 'CopyFail', message: { type: 'CopyFail', message: 'client gave up' } },
  {
    name: 'FunctionCall',
    message: { type: 'FunctionCall', oid: 1598, argFormats: [1], args: [hex('0000002a'), null], resultFormat: 1 },
  },
  { name: 'PasswordMessage', message: { type: 'PasswordLike', data: b('secret\0') }, openTail: 'both' },
  {
    name: 'SASLInitialResponse',
    message: { type: 'PasswordLike', data: Buffer.concat([b('SCRAM-SHA-256\0'), hex('00000008'), b('n,,n=,r=')]) },
    openTail: 'both',
  },
  { name: 'SASLResponse', message: { type: 'PasswordLike', data: b('c=biws,r=abc,p=xyz') }, openTail: 'both' },
]

const fullError = {
  severity: 'ERROR',
  code: '23505',
  message: 'duplicate key value violates unique constraint "users_pkey"',
  detail: 'Key (id)=(1) already exists.',
  hint: 'Pick another id.',
  position: 15,
  internalPosition: '3',
  internalQuery: 'select 1',
  where: 'SQL function "f" statement 1',
  schema: 'public',
  table: 'users',
  column: 'id',
  dataType: 'int4',
  constraint: 'users_pkey',
  file: 'nbtinsert.c',
  line: 666,
  routine: '_bt_check_unique',
}

export const backendFixtures: Fixture<BackendMessage>[] = [
  { name: 'AuthenticationOk', message: { type: 'AuthenticationOk' } },
  { name: 'AuthenticationKerberosV5', message: { type: 'AuthenticationKerberosV5' } },
  { name: 'AuthenticationCleartextPassword', message: { type: 'AuthenticationCleartextPassword' } },
  { name: 'AuthenticationMD5Password', message: { type: 'AuthenticationMD5Password', salt: hex('01020304') } },
  { name: 'AuthenticationGSS', message: { type: 'AuthenticationGSS' } },
  { name: 'AuthenticationGSSContinue', message: { type: 'AuthenticationGSSContinue', data: hex('6082') }, openTail: 'both' },
  { name: 'AuthenticationSSPI', message: { type: 'AuthenticationSSPI' } },
  { name: 'AuthenticationSASL', message: { type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] } },
  {
    name: 'AuthenticationSASLContinue',
    message: { type: 'AuthenticationSASLContinue', data: b('r=abc,s=c2FsdA==,i=4096') },
    openTail: 'both',
  },
  { name: 'AuthenticationSASLFinal', message: { type: 'AuthenticationSASLFinal', data: b('v=dmVyaWZpZXI=') }, openTail: 'both' },
  { name: 'BackendKeyData (3.0, 4-byte key)', message: { type: 'BackendKeyData', pid: 4242, secret: hex('deadbeef') }, openTail: 'longer' },
  {
    name: 'BackendKeyData (3.2, 32-byte key)',
    message: { type: 'BackendKeyData', pid: 7, secret: Buffer.alloc(32, 0xab) },
    openTail: 'both',
  },
  { name: 'BindComplete', message: { type: 'BindComplete' } },
  { name: 'CloseComplete', message: { type: 'CloseComplete' } },
  { name: 'CommandComplete', message: { type: 'CommandComplete', tag: 'SELECT 1' } },
  { name: 'CommandComplete INSERT', message: { type: 'CommandComplete', tag: 'INSERT 0 1' } },
  { name: 'CopyData', message: { type: 'CopyData', data: b('1\talice\n') }, openTail: 'both' },
  { name: 'CopyDone', message: { type: 'CopyDone' } },
  { name: 'CopyInResponse', message: { type: 'CopyInResponse', format: 0, columnFormats: [0, 0] } },
  { name: 'CopyOutResponse binary', message: { type: 'CopyOutResponse', format: 1, columnFormats: [1, 1, 1] } },
  { name: 'CopyBothResponse', message: { type: 'CopyBothResponse', format: 0, columnFormats: [] } },
  { name: 'DataRow', message: { type: 'DataRow', values: [b('1'), null, b(''), b('alice@example.com')] } },
  { name: 'DataRow with no columns', message: { type: 'DataRow', values: [] } },
  { name: 'EmptyQueryResponse', message: { type: 'EmptyQueryResponse' } },
  {
    name: 'ErrorResponse minimal',
    message: { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '42501', M: 'permission denied for table users' } },
  },
  { name: 'ErrorResponse with every field', message: { type: 'ErrorResponse', fields: errorFieldRecord(fullError) } },
  { name: 'ErrorResponse FATAL', message: { type: 'ErrorResponse', fields: { S: 'FATAL', V: 'FATAL', C: '28P01', M: 'password authentication failed for user "u"' } } },
  { name: 'ErrorResponse with an unknown field code', message: { type: 'ErrorResponse', fields: { S: 'ERROR', C: 'XX000', M: 'm', Z: 'future field' } } },
  { name: 'NoticeResponse', message: { type: 'NoticeResponse', fields: { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'held for review' } } },
  { name: 'FunctionCallResponse', message: { type: 'FunctionCallResponse', value: hex('0000002a') } },
  { name: 'FunctionCallResponse NULL', message: { type: 'FunctionCallResponse', value: null } },
  { name: 'NegotiateProtocolVersion', message: { type: 'NegotiateProtocolVersion', newestMinor: 0, unsupported: ['_pq_.unknown_option'] } },
  { name: 'NoData', message: { type: 'NoData' } },
  { name: 'NotificationResponse', message: { type: 'NotificationResponse', pid: 4242, channel: 'reviews', payload: '{"id":1}' } },
  { name: 'ParameterDescription', message: { type: 'ParameterDescription', typeOids: [23, 25, 4000000000] } },
  { name: 'ParameterStatus', message: { type: 'ParameterStatus', name: 'client_encoding', value: 'UTF8' } },
  { name: 'ParseComplete', message: { type: 'ParseComplete' } },
  { name: 'PortalSuspended', message: { type: 'PortalSuspended' } },
  { name: 'ReadyForQuery idle', message: { type: 'ReadyForQuery', status: 'I' } },
  { name: 'ReadyForQuery in transaction', message: { type: 'ReadyForQuery', status: 'T' } },
  { name: 'ReadyForQuery failed transaction', message: { type: 'ReadyForQuery', status: 'E' } },
  {
    name: 'RowDescription',
    message: {
      type: 'RowDescription',
      fields: [
        { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 },
        { name: 'email', tableOid: 16384, columnAttr: 2, typeOid: 1043, typeSize: -1, typeMod: 259, format: 0 },
        { name: '?column?', tableOid: 0, columnAttr: 0, typeOid: 4000000000, typeSize: -2, typeMod: -1, format: 1 },
      ],
    },
  },
  { name: 'RowDescription with no fields', message: { type: 'RowDescription', fields: [] } },
]

export const startupFixtures: Fixture<StartupPhaseMessage>[] = [
  { name: 'SSLRequest', message: { kind: 'ssl' } },
  { name: 'GSSENCRequest', message: { kind: 'gssenc' } },
  {
    name: 'StartupMessage 3.0',
    message: { kind: 'startup', major: 3, minor: 0, params: { user: 'agent', database: 'app', application_name: 'psql', options: '-c search_path=public' } },
  },
  {
    name: 'StartupMessage 3.2 with _pq_ options',
    message: { kind: 'startup', major: 3, minor: PROTOCOL_3_2 & 0xffff, params: { user: 'agent', database: 'app', '_pq_.protocol_managed_params': 'search_path' } },
  },
  { name: 'CancelRequest (3.0, 4-byte key)', message: { kind: 'cancel', pid: 4242, secret: hex('deadbeef') }, openTail: 'longer' },
  { name: 'CancelRequest (3.2, 256-byte key)', message: { kind: 'cancel', pid: 4242, secret: Buffer.alloc(256, 7) }, openTail: 'both' },
]

/**
 * Bytes written out by hand from "Message Formats", so the encoders are checked against the
 * documentation and not only against the decoders.
 */
export const handWritten: { name: string; direction: 'frontend' | 'backend' | 'startup'; message: FrontendMessage | BackendMessage | StartupPhaseMessage; bytes: Buffer }[] = [
  { name: 'Query select 1', direction: 'frontend', message: { type: 'Query', sql: 'select 1' }, bytes: hex('51 0000000d 73656c6563742031 00') },
  { name: 'Sync', direction: 'frontend', message: { type: 'Sync' }, bytes: hex('53 00000004') },
  { name: 'Terminate', direction: 'frontend', message: { type: 'Terminate' }, bytes: hex('58 00000004') },
  {
    name: 'Bind',
    direction: 'frontend',
    message: { type: 'Bind', portal: '', statement: 's1', paramFormats: [1], params: [b('ab'), null], resultFormats: [] },
    bytes: hex('42 0000001a 00 733100 0001 0001 0002 00000002 6162 ffffffff 0000'),
  },
  { name: 'Describe portal', direction: 'frontend', message: { type: 'Describe', target: 'P', name: '' }, bytes: hex('44 00000006 50 00') },
  { name: 'Execute', direction: 'frontend', message: { type: 'Execute', portal: '', maxRows: 0 }, bytes: hex('45 00000009 00 00000000') },
  { name: 'AuthenticationOk', direction: 'backend', message: { type: 'AuthenticationOk' }, bytes: hex('52 00000008 00000000') },
  {
    name: 'AuthenticationMD5Password',
    direction: 'backend',
    message: { type: 'AuthenticationMD5Password', salt: hex('01020304') },
    bytes: hex('52 0000000c 00000005 01020304'),
  },
  {
    name: 'AuthenticationSASL',
    direction: 'backend',
    message: { type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256'] },
    bytes: hex('52 00000017 0000000a 534352414d2d5348412d32353600 00'),
  },
  { name: 'ReadyForQuery idle', direction: 'backend', message: { type: 'ReadyForQuery', status: 'I' }, bytes: hex('5a 00000005 49') },
  {
    name: 'DataRow 1, NULL',
    direction: 'backend',
    message: { type: 'DataRow', values: [b('1'), null] },
    bytes: hex('44 0000000f 0002 00000001 31 ffffffff'),
  },
  { name: 'CommandComplete SELECT 1', direction: 'backend', message: { type: 'CommandComplete', tag: 'SELECT 1' }, bytes: hex('43 0000000d 53454c4543542031 00') },
  {
    name: 'ErrorResponse',
    direction: 'backend',
    message: { type: 'ErrorResponse', fields: { S: 'ERROR', V: 'ERROR', C: '42501', M: 'denied' } },
    bytes: hex('45 00000022 53 4552524f5200 56 4552524f5200 43 343235303100 4d 64656e69656400 00'),
  },
  {
    name: 'RowDescription one int4 column',
    direction: 'backend',
    message: { type: 'RowDescription', fields: [{ name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 }] },
    bytes: hex('54 0000001b 0001 696400 00004000 0001 00000017 0004 ffffffff 0000'),
  },
  { name: 'SSLRequest', direction: 'startup', message: { kind: 'ssl' }, bytes: hex('00000008 04d2162f') },
  { name: 'GSSENCRequest', direction: 'startup', message: { kind: 'gssenc' }, bytes: hex('00000008 04d21630') },
  {
    name: 'CancelRequest',
    direction: 'startup',
    message: { kind: 'cancel', pid: 1234, secret: hex('0a0b0c0d') },
    bytes: hex('00000010 04d2162e 000004d2 0a0b0c0d'),
  },
  {
    name: 'StartupMessage user=u',
    direction: 'startup',
    message: { kind: 'startup', major: 3, minor: 0, params: { user: 'u' } },
    bytes: hex('00000010 00030000 7573657200 7500 00'),
  },
]

/** The convenience builders' output, checked against encodeBackend in the tests. */
export const builtErrors = {
  error: encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'denied by rule "no-ddl"', hint: 'schema changes go through migrations' }),
  notice: encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'statement held for review' }),
  full: encodeErrorResponse(fullError),
}

/** Frames one encoded message and checks that it is exactly one frame. */
export function frameOf(bytes: Buffer, startup = false): Frame {
  const frames: Frame[] = []
  new MessageFramer({ startup }).push(bytes, (f) => frames.push(f))
  if (frames.length !== 1 || frames[0]?.raw.length !== bytes.length) {
    throw new Error(`expected exactly one frame of ${bytes.length} bytes, got ${frames.length}`)
  }
  return frames[0]
}
