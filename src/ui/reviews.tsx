/**
 * `agw reviews --watch`: the reviewer's terminal (ink). A live list pushed by the gateway (never
 * polled), the selected review's details (SQL, parameters, requester, agent, session, rule, expiry
 * countdown), and keys: a approve, f approve for a duration, d deny (each asks for a reason),
 * arrows or j/k to select, q to quit. The caller's own requests are listed apart and cannot be
 * decided. The countdown is local: a one-second tick over the gateway's expiry times, corrected by
 * the gateway's clock.
 */
import { Box, render, Text, useApp, useInput, useStdin } from 'ink'
import { useEffect, useMemo, useRef, useState } from 'react'
import { oneLine, requesterName, sections, status } from '../reviews/format.js'
import type { DecideOptions, ReviewList, ReviewView } from '../reviews/client.js'

export interface ReviewsAppProps {
  /** Who is looking (shown in the header). */
  me: string
  /** Subscribes to the live list; returns the unsubscribe function. */
  feed: (onList: (list: ReviewList) => void, onStatus: (status: 'live' | 'reconnecting', detail?: string) => void, onFatal: (err: Error) => void) => () => void
  decide: (id: string, action: 'approve' | 'deny', opts: DecideOptions) => Promise<ReviewView>
}

type Mode =
  | { kind: 'list' }
  | { kind: 'duration'; id: string; text: string }
  | { kind: 'reason'; id: string; action: 'approve' | 'deny'; for?: string; text: string }

type Message = { text: string; tone: 'ok' | 'error' | 'info' }

const DURATION_RE = /^\d+(s|m|h)$/
const DEFAULT_GRANT = '10m'
/** Decisions of the last hour shown (newest first); `agw reviews` lists them all. */
const RECENT_SHOWN = 8

function Section(props: { title: string; items: ReviewView[]; selected: string | undefined; now: number; color?: string }) {
  if (props.items.length === 0) return null
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text bold {...(props.color ? { color: props.color } : {})}>
        {props.title} ({props.items.length})
      </Text>
      {props.items.map((r) => {
        const sel = r.id === props.selected
        return (
          <Text key={r.id} {...(sel ? { inverse: true } : {})} wrap="truncate-end">
            {sel ? '› ' : '  '}
            {r.id.slice(0, 13)} {r.connection}/{r.rule} {requesterName(r)} — {status(r, props.now)} — {oneLine(r.statement, 60)}
          </Text>
        )
      })}
    </Box>
  )
}

function Details(props: { r: ReviewView; now: number }) {
  const { r, now } = props
  const q = r.requester
  return (
    <Box flexDirection="column" marginTop={1} borderStyle="round" paddingX={1}>
      <Text>
        <Text bold>Review </Text>
        {r.id}
        {'  '}
        <Text color={r.state === 'pending' ? 'yellow' : r.state === 'approved' ? 'green' : 'red'}>{status(r, now)}</Text>
      </Text>
      <Text>
        <Text bold>Requester </Text>
        {q.email ?? q.subject} ({q.kind}
        {q.clientId ? `, client ${q.clientId}` : ''}, {q.issuer})
      </Text>
      <Text>
        <Text bold>Agent </Text>
        {r.agent ?? '-'}
        <Text bold>{'  '}Session </Text>
        {r.sessionId}
      </Text>
      <Text>
        <Text bold>Connection </Text>
        {r.connection}
        <Text bold>{'  '}Rule </Text>
        {r.rule}
        <Text bold>{'  '}Reviewers </Text>
        {r.reviewers.join(', ')}
      </Text>
      <Text bold>SQL</Text>
      <Text color="cyan">{r.statement}</Text>
      {r.params.length > 0 ? (
        <Text>
          <Text bold>Parameters </Text>
          {JSON.stringify(r.params)}
        </Text>
      ) : null}
      {r.reason ? (
        <Text>
          <Text bold>Reason </Text>
          {r.reason}
        </Text>
      ) : null}
      {r.state === 'pending' && r.canApprove ? (
        <Text>
          <Text bold>A grant (f) covers </Text>
          {r.grantCovers}
        </Text>
      ) : null}
      {r.state === 'pending' && r.why ? <Text color="red">{r.why}</Text> : null}
    </Box>
  )
}

export function ReviewsApp(props: ReviewsAppProps) {
  const { exit } = useApp()
  const { isRawModeSupported } = useStdin()
  const [list, setList] = useState<ReviewView[] | undefined>(undefined)
  const [skew, setSkew] = useState(0)
  const [now, setNow] = useState(Date.now())
  const [feed, setFeed] = useState<{ state: 'connecting' | 'live' | 'reconnecting'; detail?: string }>({ state: 'connecting' })
  const [selected, setSelected] = useState<string | undefined>(undefined)
  // Keys can come faster than React renders: the handler reads and writes the mode through a ref.
  const [mode, setModeState] = useState<Mode>({ kind: 'list' })
  const modeRef = useRef<Mode>(mode)
  const setMode = (m: Mode) => {
    modeRef.current = m
    setModeState(m)
  }
  const [message, setMessage] = useState<Message | undefined>(undefined)

  useEffect(
    () =>
      props.feed(
        (l) => {
          setList(l.reviews)
          setSkew(Date.parse(l.now) - Date.now())
          setFeed({ state: 'live' })
        },
        (state, detail) => setFeed(detail !== undefined ? { state, detail } : { state }),
        (err) => exit(err),
      ),
    [],
  )
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [])

  const s = useMemo(() => sections(list ?? []), [list])
  const order = useMemo(() => [...s.decide, ...s.blocked, ...s.mine, ...s.recent.slice(0, RECENT_SHOWN)], [s])
  const current = order.find((r) => r.id === selected) ?? order[0]
  const at = now + skew
  // What the screen shows now: a key is judged against the last frame drawn, not against the
  // handler's closure (ink re-subscribes the handler in an effect, after the frame is written,
  // so a key pressed right after a review appears would otherwise act on the previous list).
  const shown = useRef({ order, current, busy: false })
  shown.current = { ...shown.current, order, current }

  const move = (delta: number) => {
    const { order, current } = shown.current
    if (order.length === 0) return
    const i = Math.max(0, order.findIndex((r) => r.id === current?.id))
    const next = order[Math.min(order.length - 1, Math.max(0, i + delta))]
    shown.current = { ...shown.current, current: next }
    setSelected(next?.id)
  }

  const submit = (id: string, action: 'approve' | 'deny', opts: DecideOptions) => {
    const r = shown.current.order.find((x) => x.id === id)
    shown.current.busy = true
    setMessage({ text: `${action === 'approve' ? 'approving' : 'denying'} ${id} ...`, tone: 'info' })
    props
      .decide(id, action, { ...opts, ...(r && action === 'approve' ? { fingerprint: r.fingerprint } : {}) })
      .then(
        (v) => {
          // The next review waiting (the oldest) is selected again.
          setSelected(undefined)
          setMessage({ text: `review ${v.id} ${v.state}${v.grantUntil ? ` (matching statements until ${new Date(v.grantUntil).toLocaleTimeString()})` : ''}`, tone: 'ok' })
        },
        (err: unknown) => setMessage({ text: err instanceof Error ? err.message : String(err), tone: 'error' }),
      )
      .finally(() => {
        shown.current.busy = false
      })
  }

  useInput(
    (input, key) => {
      const mode = modeRef.current
      const { current, busy } = shown.current
      if (mode.kind === 'list') {
        if (input === 'q' || key.escape) return exit()
        if (key.upArrow || input === 'k') return move(-1)
        if (key.downArrow || input === 'j') return move(1)
        if (!current || busy) return
        if (input === 'a' || input === 'd' || input === 'f') {
          const action = input === 'd' ? 'deny' : 'approve'
          const allowed = action === 'approve' ? current.canApprove : current.canDeny
          if (!allowed) {
            setMessage({ text: current.state !== 'pending' ? `review ${current.id} is ${current.state}` : (current.why ?? 'you may not decide this review'), tone: 'error' })
            return
          }
          setMessage(undefined)
          setMode(input === 'f' ? { kind: 'duration', id: current.id, text: '' } : { kind: 'reason', id: current.id, action, text: '' })
        }
        return
      }
      if (key.escape) {
        setMode({ kind: 'list' })
        setMessage({ text: 'cancelled', tone: 'info' })
        return
      }
      // Typed text may arrive in one chunk with its Enter ("looks right\r"): split it there.
      const cut = key.return ? -1 : input.search(/[\r\n]/)
      if (cut >= 0) {
        const typed = (mode.text + input.slice(0, cut)).slice(0, 500)
        enter({ ...mode, text: typed })
        return
      }
      if (key.return) {
        enter(mode)
        return
      }
      if (key.backspace || key.delete) {
        setMode({ ...mode, text: mode.text.slice(0, -1) })
        return
      }
      if (input && !key.ctrl && !key.meta) setMode({ ...mode, text: (mode.text + input).slice(0, 500) })
    },
    { isActive: isRawModeSupported === true },
  )

  function enter(m: Exclude<Mode, { kind: 'list' }>): void {
    if (m.kind === 'duration') {
      const text = m.text.trim() || DEFAULT_GRANT
      if (!DURATION_RE.test(text)) {
        setMessage({ text: `"${m.text}" is not a duration; write e.g. 30s, 10m, 1h`, tone: 'error' })
        setMode({ ...m, text: '' })
        return
      }
      setMessage(undefined)
      setMode({ kind: 'reason', id: m.id, action: 'approve', for: text, text: '' })
      return
    }
    const opts: DecideOptions = {}
    if (m.text.trim()) opts.reason = m.text.trim()
    if (m.for) opts.for = m.for
    setMode({ kind: 'list' })
    submit(m.id, m.action, opts)
  }

  const prompt =
    mode.kind === 'duration'
      ? `Approve ${mode.id.slice(0, 13)} and matching statements (${order.find((r) => r.id === mode.id)?.grantCovers ?? 'same rule, statement kind and tables'}) of its session for how long (30s, 10m, 1h; Enter: ${DEFAULT_GRANT})? `
      : mode.kind === 'reason'
        ? `Reason for ${mode.action === 'approve' ? 'approving' : 'denying'} ${mode.id.slice(0, 13)}${mode.for ? ` (for ${mode.for})` : ''}${mode.action === 'approve' ? ' (optional)' : ''}: `
        : undefined

  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>agw reviews</Text> — {props.me} —{' '}
        {feed.state === 'live' ? <Text color="green">live</Text> : <Text color="yellow">{feed.state}{feed.detail ? ` (${feed.detail})` : ''}</Text>}
      </Text>
      {list === undefined ? (
        <Text dimColor>loading ...</Text>
      ) : order.length === 0 ? (
        <Box marginTop={1}>
          <Text dimColor>Nothing is waiting for you. New reviews appear here as they are requested.</Text>
        </Box>
      ) : (
        <>
          <Section title="Waiting for your decision" items={s.decide} selected={current?.id} now={at} color="yellow" />
          <Section title="Pending, not yours to decide" items={s.blocked} selected={current?.id} now={at} />
          <Section title="Your requests (you cannot decide them)" items={s.mine} selected={current?.id} now={at} />
          <Section title="Decided in the last hour" items={s.recent.slice(0, RECENT_SHOWN)} selected={current?.id} now={at} />
          {current ? <Details r={current} now={at} /> : null}
        </>
      )}
      {prompt ? (
        <Text>
          <Text bold>{prompt}</Text>
          {mode.kind !== 'list' ? mode.text : ''}
          <Text inverse> </Text>
          <Text dimColor> (Enter to confirm, Esc to cancel)</Text>
        </Text>
      ) : null}
      {message ? <Text color={message.tone === 'error' ? 'red' : message.tone === 'ok' ? 'green' : 'gray'}>{message.text}</Text> : null}
      {isRawModeSupported ? (
        <Text dimColor>a approve · f approve for a time · d deny · ↑/↓ select · q quit</Text>
      ) : (
        <Text dimColor>(no keyboard: stdin is not a terminal; decide with `agw review approve|deny ID`)</Text>
      )}
    </Box>
  )
}

/** Renders the live view until the user quits (or the feed fails for good). */
export async function runReviewsApp(props: ReviewsAppProps): Promise<void> {
  const app = render(<ReviewsApp {...props} />, { exitOnCtrlC: true })
  await app.waitUntilExit()
}
