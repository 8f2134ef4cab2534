/** Splunk HEC event envelope (POST /services/collector/event): time in epoch seconds, event, indexed fields as strings. */
import { describe, expect, it } from 'vitest'
import { toHecEnvelope, toHecLine } from '../../../../src/audit/formats/splunk-hec.js'
import { SAMPLES } from './fixtures.js'

describe('toHecEnvelope', () => {
  it('wraps the agw event with time in seconds, host, source and sourcetype', () => {
    const e = SAMPLES.query
    const env = toHecEnvelope(e, 'gw-1')
    expect(env).toEqual({
      time: Date.parse(e.time) / 1000,
      host: 'gw-1',
      source: 'agw',
      sourcetype: 'agw:audit',
      event: JSON.parse(JSON.stringify(e)),
      fields: { agw_type: 'query', agw_event_id: e.id, agw_session: e.sessionId, agw_connection: 'pg-prod', agw_subject: 'alice' },
    })
    expect(env.time).toBe(1714564800.123)
  })

  it('indexed fields are strings only, and absent ones are left out', () => {
    const env = toHecEnvelope(SAMPLES['auth.failed'], 'gw-1')
    expect(env.fields).toEqual({ agw_type: 'auth.failed', agw_event_id: SAMPLES['auth.failed'].id })
    for (const v of Object.values(toHecEnvelope(SAMPLES['session.start']).fields)) expect(typeof v).toBe('string')
  })

  it('a line is one JSON object (HEC batches are such objects one after another)', () => {
    const line = toHecLine(SAMPLES['query.result'], 'gw-1')
    expect(line).not.toContain('\n')
    expect(JSON.parse(line).event.data.rows).toEqual([['1', '[redacted]']])
  })
})
