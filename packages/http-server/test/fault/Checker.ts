/**
 * The history checker: each guarantee of the fault suite as a function of the `History`, returning its violations
 * (empty when it holds) and the figures behind it.
 *
 * Fault windows, precisely. A request "meets" a window when its interval [start, end] overlaps the window's.
 * - process window: from the SIGKILL of a process until it answers `/ready` again, plus 2 s; it explains a 503
 *   `starting`/`stopping` from that process only.
 * - database window: from the first `pg_terminate_backend` of a burst to the last, plus 3 s; it explains a 503
 *   `database_unavailable` from any process.
 * - provider window: while the fake Cloud API's faults are on; it explains a 502 `provider_unavailable` (and 503
 *   `database_unavailable` never) from any process.
 * - an unsettled send: a 502 `delivery_unconfirmed` for a key is explained while that key is unsettled: from its
 *   first attempt that met any fault window, until its message's status webhook was acknowledged (plus 10 s), or
 *   until the service's unconfirmed-send timeout and its sweeper's period after that attempt (plus 15 s), whichever
 *   comes first.
 * Any other 5xx — a 500 at all, a 502/503 with another code, or one outside its windows — is a violation.
 */
import { ambiguousFaults } from "./FaultyUpstream.js"
import type { Answer, Attempt, FaultWindow, History, SendOp } from "./History.js"

export interface Check {
  readonly name: string
  readonly violations: ReadonlyArray<string>
}

const rank: Readonly<Record<string, number>> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 }
const rankOf = (status: string) => rank[status] ?? -1

const httpOf = (attempt: Attempt) => (attempt.answer.kind === "http" ? attempt.answer : undefined)

/** A final answer: the client stops retrying. 2xx, or a 4xx other than 408/409/429. */
export const isFinal = (answer: Answer): boolean =>
  answer.kind === "http" &&
  (answer.status < 300 || (answer.status >= 400 && answer.status < 500 && ![408, 409, 429].includes(answer.status)))

const overlaps = (attempt: Attempt, window: FaultWindow, grace: number) =>
  attempt.start <= window.end + grace && attempt.end >= window.start

const graceOf = (window: FaultWindow) => (window.kind === "process" ? 2_000 : window.kind === "database" ? 3_000 : 0)

const meetsAnyWindow = (attempt: Attempt, windows: ReadonlyArray<FaultWindow>) =>
  windows.some((w) => (w.kind !== "process" || w.slot === attempt.slot) && overlaps(attempt, w, graceOf(w)))

const describe = (attempt: Attempt, what: string) => {
  const a = attempt.answer
  const answer = a.kind === "http" ? `${a.status} ${a.code ?? ""}`.trim() : `no answer (${a.reason})`
  return `${what} to process ${attempt.slot} at ${attempt.start}–${attempt.end} ms answered ${answer}`
}

/** Our message id of each key: from an answer, else from the callback data of the provider's copy. */
const messageIdsOf = (history: History): Map<string, string> => {
  const ids = new Map<string, string>()
  const byText = new Map(history.sends.map((op) => [op.text, op.key]))
  for (const op of history.sends) {
    for (const attempt of op.attempts) {
      const http = httpOf(attempt)
      if (http?.messageId) {
        ids.set(op.key, http.messageId)
        break
      }
    }
  }
  for (const send of history.providerSends) {
    const key = send.text === null ? undefined : byText.get(send.text)
    if (key !== undefined && !ids.has(key) && send.callback !== null) ids.set(key, send.callback)
  }
  return ids
}

/** When each message's first status webhook was acknowledged (200). */
const firstStatusAck = (history: History): Map<string, number> => {
  const acked = new Map<string, number>()
  for (const delivery of history.deliveries) {
    const ok = delivery.attempts.find((a) => httpOf(a)?.status === 200)
    if (ok === undefined) continue
    for (const s of delivery.statuses) {
      const before = acked.get(s.messageId)
      if (before === undefined || ok.end < before) acked.set(s.messageId, ok.end)
    }
  }
  return acked
}

/**
 * No acknowledged send lost: every key answered 201 with a message that had not failed (the client was told it went
 * out) has that message in the API, with its text, at the provider. A 201 whose message is `failed` (an unconfirmed
 * send that expired) tells the client it did not go out.
 */
export const noAcknowledgedSendLost = (history: History): Check => {
  const violations: Array<string> = []
  const final = new Map(history.final.map((m) => [m.id, m]))
  const wamidsByText = new Map<string, Set<string>>()
  for (const send of history.providerSends) {
    if (send.text === null) continue
    const set = wamidsByText.get(send.text) ?? new Set<string>()
    set.add(send.wamid)
    wamidsByText.set(send.text, set)
  }
  for (const op of history.sends) {
    const acked = op.attempts.map(httpOf).filter((a) => a?.status === 201 && a.deliveryStatus !== "failed")
    for (const answer of acked) {
      const id = answer?.messageId ?? null
      const message = id === null ? undefined : final.get(id)
      if (message === undefined) {
        violations.push(`key ${op.key}: answered 201 with message ${id}, which the API does not return`)
        continue
      }
      if (message.text !== op.text) violations.push(`key ${op.key}: message ${id} holds another text`)
      const wamids = wamidsByText.get(op.text)
      if (wamids === undefined) violations.push(`key ${op.key}: answered 201 but the provider never accepted it`)
      else if (message.providerMessageId === null || !wamids.has(message.providerMessageId))
        violations.push(`key ${op.key}: message ${id} does not carry the provider's wamid`)
    }
  }
  return { name: "no acknowledged send lost", violations }
}

export interface DuplicateFigures {
  /** Keys the provider accepted although some attempt's answer was lost (settled only by the status webhook). */
  readonly ambiguousAccepted: number
  /** Keys whose only provider attempt was lost before the provider took it (hang, reset). */
  readonly ambiguousNotAccepted: number
}

/**
 * No duplicate per key: at most one accepted send at the provider and one message in the API per key, one message
 * id across all its 201 answers, and no new provider attempt once one attempt's outcome was unknown. Keys whose
 * outcome was provably ambiguous are counted apart, in the figures.
 */
export const noDuplicateSend = (history: History): Check & { readonly figures: DuplicateFigures } => {
  const violations: Array<string> = []
  const accepted = new Map<string, number>()
  for (const send of history.providerSends) {
    if (send.text !== null) accepted.set(send.text, (accepted.get(send.text) ?? 0) + 1)
  }
  const inApi = new Map<string, number>()
  // A copy the provider refused outright (failed, no wamid) is the record of a failed attempt, not a duplicate.
  for (const m of history.final) {
    const refused = m.deliveryStatus === "failed" && m.providerMessageId === null
    if (m.direction === "outbound" && m.text !== null && !refused) inApi.set(m.text, (inApi.get(m.text) ?? 0) + 1)
  }
  let ambiguousAccepted = 0
  let ambiguousNotAccepted = 0
  for (const op of history.sends) {
    const n = accepted.get(op.text) ?? 0
    if (n > 1) violations.push(`key ${op.key}: the provider accepted it ${n} times`)
    const m = inApi.get(op.text) ?? 0
    if (m > 1) violations.push(`key ${op.key}: the API holds ${m} messages for it`)
    const ids = new Set(op.attempts.map(httpOf).flatMap((a) => (a?.status === 201 && a.messageId ? [a.messageId] : [])))
    if (ids.size > 1) violations.push(`key ${op.key}: 201 answers name ${ids.size} different messages`)
    const upstream = history.upstream.filter((u) => u.text === op.text).sort((a, b) => a.at - b.at)
    const firstAmbiguous = upstream.findIndex((u) => u.fate !== "forwarded" && ambiguousFaults.has(u.fate))
    if (firstAmbiguous >= 0 && firstAmbiguous < upstream.length - 1)
      violations.push(`key ${op.key}: sent to the provider again after an attempt whose outcome was unknown`)
    // Ambiguous: the provider's answer was lost on the way (a fault above), or Parley said it could not know.
    const unconfirmed = op.attempts.some((a) => httpOf(a)?.code === "delivery_unconfirmed")
    if (firstAmbiguous >= 0 || unconfirmed) {
      if (n > 0) ambiguousAccepted++
      else ambiguousNotAccepted++
    }
  }
  return {
    name: "no duplicate provider send per key",
    violations,
    figures: { ambiguousAccepted, ambiguousNotAccepted }
  }
}

/** Every send resolved: each key's last answer is final, and no message of ours is still pending in the API. */
export const everySendResolved = (history: History): Check => {
  const violations: Array<string> = []
  const texts = new Set(history.sends.map((op) => op.text))
  for (const op of history.sends) {
    const last = op.attempts.at(-1)
    if (last === undefined) violations.push(`key ${op.key}: never attempted`)
    else if (!isFinal(last.answer)) violations.push(`key ${op.key}: last ${describe(last, "retry")} after settling`)
  }
  for (const m of history.final) {
    if (m.direction === "outbound" && m.text !== null && texts.has(m.text) && m.deliveryStatus === "pending")
      violations.push(`message ${m.id}: still pending after settling`)
  }
  return { name: "every send resolved after settling", violations }
}

/** Every inbound message acknowledged (its delivery answered 200) is in the API exactly once; none twice. */
export const inboundVisibleOnce = (history: History): Check => {
  const violations: Array<string> = []
  const count = new Map<string, number>()
  for (const m of history.final) {
    if (m.direction === "inbound" && m.providerMessageId !== null)
      count.set(`${m.tenant}/${m.providerMessageId}`, (count.get(`${m.tenant}/${m.providerMessageId}`) ?? 0) + 1)
  }
  const acked = new Set<string>()
  for (const d of history.deliveries) {
    if (d.kind === "inbound" && d.attempts.some((a) => httpOf(a)?.status === 200)) {
      for (const wamid of d.wamids) acked.add(`${d.tenant}/${wamid}`)
    }
  }
  for (const message of history.inbound) {
    const id = `${message.tenant}/${message.wamid}`
    const n = count.get(id) ?? 0
    if (acked.has(id) && n !== 1) violations.push(`inbound ${message.wamid}: acknowledged, visible ${n} times`)
    if (!acked.has(id) && n > 1) violations.push(`inbound ${message.wamid}: visible ${n} times`)
  }
  return { name: "every acknowledged inbound message visible exactly once", violations }
}

/**
 * Statuses monotonic: of two reads that did not overlap, the later never shows a lower status; the final status is
 * at least the highest one observed and the highest one whose status webhook was acknowledged.
 */
export const statusesMonotonic = (history: History): Check => {
  const violations: Array<string> = []
  const byMessage = new Map<string, Array<{ status: string; start: number; end: number }>>()
  for (const o of history.observations) {
    const list = byMessage.get(o.messageId) ?? []
    list.push(o)
    byMessage.set(o.messageId, list)
  }
  for (const [id, list] of byMessage) {
    list.sort((a, b) => a.start - b.start)
    let highest: { status: string; end: number } | undefined
    for (const o of list) {
      if (highest !== undefined && highest.end <= o.start && rankOf(o.status) < rankOf(highest.status)) {
        violations.push(`message ${id}: read ${highest.status}, then ${o.status} at ${o.start} ms`)
        break
      }
      if (highest === undefined || rankOf(o.status) > rankOf(highest.status)) highest = o
    }
  }
  const final = new Map(history.final.map((m) => [m.id, m]))
  const ackedHighest = new Map<string, string>()
  for (const d of history.deliveries) {
    if (!d.attempts.some((a) => httpOf(a)?.status === 200)) continue
    for (const s of d.statuses) {
      const before = ackedHighest.get(s.messageId)
      if (before === undefined || rankOf(s.status) > rankOf(before)) ackedHighest.set(s.messageId, s.status)
    }
  }
  for (const [id, status] of ackedHighest) {
    const m = final.get(id)
    if (m !== undefined && rankOf(m.deliveryStatus) < rankOf(status))
      violations.push(`message ${id}: status webhook ${status} acknowledged, but the API says ${m.deliveryStatus}`)
  }
  for (const [id, list] of byMessage) {
    const m = final.get(id)
    const seen = list.reduce((max, o) => Math.max(max, rankOf(o.status)), -1)
    if (m !== undefined && rankOf(m.deliveryStatus) < seen)
      violations.push(`message ${id}: ends ${m.deliveryStatus}, below a status read earlier`)
  }
  return { name: "statuses monotonic", violations }
}

export interface ServerErrorFigures {
  readonly total: number
  readonly explained: number
  readonly unexplained: number
}

/** No 5xx outside fault windows (see the module comment for the windows), and only 502/503 inside them. */
export const noServerErrorOutsideFaultWindows = (
  history: History
): Check & { readonly figures: ServerErrorFigures } => {
  const violations: Array<string> = []
  const ids = messageIdsOf(history)
  const statusAck = firstStatusAck(history)
  let total = 0
  let explained = 0
  const judge = (attempt: Attempt, what: string, op?: SendOp) => {
    const a = attempt.answer
    if (a.kind !== "http" || a.status < 500) return
    total++
    const windows = history.windows
    let ok = false
    if (a.status === 503 && (a.code === "starting" || a.code === "stopping")) {
      ok = windows.some((w) => w.kind === "process" && w.slot === attempt.slot && overlaps(attempt, w, graceOf(w)))
    } else if (a.status === 503 && a.code === "database_unavailable") {
      ok = windows.some((w) => w.kind === "database" && overlaps(attempt, w, graceOf(w)))
    } else if (a.status === 502 && a.code === "provider_unavailable") {
      ok = windows.some((w) => w.kind === "provider" && overlaps(attempt, w, 0))
    } else if (a.status === 502 && a.code === "delivery_unconfirmed" && op !== undefined) {
      const disturbed = op.attempts.find((b) => b.start <= attempt.start && meetsAnyWindow(b, windows))
      if (disturbed !== undefined) {
        const id = ids.get(op.key)
        const ack = id === undefined ? undefined : statusAck.get(id)
        const settledBy = Math.min(
          ack === undefined ? Number.POSITIVE_INFINITY : ack + 10_000,
          disturbed.start + history.unconfirmedTimeoutMillis + 15_000
        )
        ok = attempt.end <= settledBy
      }
    }
    if (ok) explained++
    else violations.push(describe(attempt, what))
  }
  for (const op of history.sends) for (const attempt of op.attempts) judge(attempt, `send ${op.key}`, op)
  for (const d of history.deliveries) for (const attempt of d.attempts) judge(attempt, `webhook ${d.kind} ${d.id}`)
  for (const attempt of history.reads) judge(attempt, "read")
  return {
    name: "no 5xx outside fault windows (and only 502/503 inside them)",
    violations,
    figures: { total, explained, unexplained: total - explained }
  }
}

/** No process exited unless the nemesis killed it. */
export const noProcessExitedByItself = (history: History): Check => ({
  name: "no process exiting by itself",
  violations: history.exits.map(
    (e) =>
      `process ${e.slot} exited by itself at ${e.at} ms (code ${e.code}, signal ${e.signal}, ${
        e.wasReady ? "while serving" : "while starting"
      }): ${e.logTail.split("\n").filter(Boolean).slice(-3).join(" | ")}`
  )
})

/**
 * The transactional outbox under faults: every stored message has its creation event exactly once
 * (`message.received` for an inbound one, `message.sent` for an outbound one), every outbound message's last status
 * event carries its final status, no event names a message that is not stored, no event id repeats, and each
 * conversation's sequences are exactly 1..n.
 */
export const eventsExactlyOnce = (history: History): Check => {
  const violations: Array<string> = []
  const ids = new Set<string>()
  for (const e of history.events) {
    if (ids.has(e.id)) violations.push(`event ${e.id} appears twice in the feed`)
    ids.add(e.id)
  }
  const created = new Map<string, number>()
  const lastStatus = new Map<string, { readonly sequence: number; readonly status: string | null }>()
  for (const e of history.events) {
    if (e.messageId === null) continue
    if (e.type === "message.received" || e.type === "message.sent") {
      created.set(e.messageId, (created.get(e.messageId) ?? 0) + 1)
    }
    if (e.type === "message.status_updated" && e.sequence !== null) {
      const last = lastStatus.get(e.messageId)
      if (last === undefined || last.sequence < e.sequence) {
        lastStatus.set(e.messageId, { sequence: e.sequence, status: e.deliveryStatus })
      }
    }
  }
  const stored = new Set(history.final.map((m) => m.id))
  for (const m of history.final) {
    const n = created.get(m.id) ?? 0
    if (n !== 1) violations.push(`${m.direction} message ${m.id}: ${n} creation events`)
    if (m.direction === "outbound" && m.deliveryStatus !== "pending") {
      const last = lastStatus.get(m.id)
      if (last?.status !== m.deliveryStatus) {
        violations.push(`outbound message ${m.id} is ${m.deliveryStatus}; its last status event says ${last?.status}`)
      }
    }
  }
  for (const id of created.keys()) {
    if (!stored.has(id)) violations.push(`an event names message ${id}, which is not stored`)
  }
  const sequences = new Map<string, Array<number>>()
  for (const e of history.events) {
    if (e.conversationId === null) continue
    const list = sequences.get(e.conversationId) ?? []
    list.push(e.sequence ?? 0)
    sequences.set(e.conversationId, list)
  }
  for (const [conversationId, list] of sequences) {
    const sorted = [...list].sort((a, b) => a - b)
    if (sorted.some((n, i) => n !== i + 1)) {
      violations.push(`conversation ${conversationId}: sequences ${sorted.slice(0, 10).join(",")}… are not 1..n`)
    }
  }
  return { name: "every stored message has its events exactly once in the feed", violations }
}

export const all = (history: History) => ({
  lost: noAcknowledgedSendLost(history),
  duplicated: noDuplicateSend(history),
  resolved: everySendResolved(history),
  inbound: inboundVisibleOnce(history),
  monotonic: statusesMonotonic(history),
  serverErrors: noServerErrorOutsideFaultWindows(history),
  exits: noProcessExitedByItself(history),
  events: eventsExactlyOnce(history)
})
