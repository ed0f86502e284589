/**
 * The history checker on small hand-made histories: each guarantee passes on a clean history and fails on one that
 * breaks it, so the fault suite cannot pass vacuously.
 */
import { describe, expect, it } from "vitest"
import * as Checker from "./Checker.js"
import type {
  Answer,
  Attempt,
  FaultWindow,
  FinalEvent,
  FinalMessage,
  History,
  SendOp,
  WebhookDelivery
} from "./History.js"

const http = (status: number, code: string | null = null, messageId: string | null = null): Answer => ({
  kind: "http",
  status,
  code,
  messageId,
  deliveryStatus: status === 201 ? "sent" : null,
  replayed: false
})
const at = (start: number, answer: Answer, slot = 0): Attempt => ({ slot, start, end: start + 100, answer })
const op = (key: string, attempts: Array<Attempt>): SendOp => ({
  key,
  text: `text ${key}`,
  tenant: 0,
  conversationId: "c",
  attempts
})
const message = (
  id: string,
  text: string,
  deliveryStatus = "sent",
  providerMessageId = `wamid.${id}`
): FinalMessage => ({
  tenant: 0,
  conversationId: "c",
  id,
  direction: "outbound",
  text,
  deliveryStatus,
  providerMessageId
})
const statusDelivery = (id: number, messageId: string, status: string, attempts: Array<Attempt>): WebhookDelivery => ({
  id,
  tenant: 0,
  kind: "status",
  wamids: [],
  statuses: [{ messageId, status }],
  attempts
})

const event = (
  sequence: number,
  type: string,
  messageId: string | null = null,
  deliveryStatus: string | null = null
): FinalEvent => ({ tenant: 0, id: `e${sequence}`, type, conversationId: "c", sequence, messageId, deliveryStatus })

const clean: History = {
  seed: 1,
  sends: [op("k1", [at(0, http(503, "database_unavailable")), at(1_000, http(201, null, "m1"))])],
  deliveries: [statusDelivery(0, "m1", "delivered", [at(2_000, http(200))])],
  inbound: [{ wamid: "wamid.in1", tenant: 0 }],
  reads: [],
  windows: [{ kind: "database", slot: null, start: 0, end: 50, detail: "" }],
  observations: [
    { messageId: "m1", status: "sent", start: 1_500, end: 1_600 },
    { messageId: "m1", status: "delivered", start: 2_500, end: 2_600 }
  ],
  final: [
    message("m1", "text k1", "delivered", "wamid.1"),
    { ...message("i1", "hi", "read", "wamid.in1"), direction: "inbound" }
  ],
  events: [
    event(1, "conversation.created"),
    event(2, "message.received", "i1", "delivered"),
    event(3, "message.sent", "m1", "pending"),
    event(4, "message.status_updated", "m1", "sent"),
    event(5, "message.status_updated", "m1", "delivered")
  ],
  providerSends: [{ text: "text k1", wamid: "wamid.1", callback: "m1" }],
  upstream: [{ at: 1_000, text: "text k1", fate: "forwarded", upstreamStatus: 200 }],
  exits: [],
  unconfirmedTimeoutMillis: 20_000,
  settledAt: 10_000
}
const withInbound: History = {
  ...clean,
  deliveries: [
    ...clean.deliveries,
    { id: 1, tenant: 0, kind: "inbound", wamids: ["wamid.in1"], statuses: [], attempts: [at(0, http(200))] }
  ]
}

const violations = (history: History) => Object.values(Checker.all(history)).flatMap((c) => c.violations)

describe("the history checker", () => {
  it("passes a clean history", () => {
    expect(violations(withInbound)).toEqual([])
  })

  it("finds an acknowledged send the API lost", () => {
    expect(Checker.noAcknowledgedSendLost({ ...clean, final: [] }).violations).toHaveLength(1)
    // A 201 whose message failed (an unconfirmed send that expired) told the client it did not go out.
    const expired: Answer = {
      kind: "http",
      status: 201,
      code: null,
      messageId: "m1",
      deliveryStatus: "failed",
      replayed: false
    }
    const told = { ...clean, sends: [op("k1", [at(0, expired)])], final: [], providerSends: [] }
    expect(Checker.noAcknowledgedSendLost(told).violations).toEqual([])
  })

  it("finds a key the provider accepted twice, and a resend after an unknown outcome", () => {
    const twice = {
      ...clean,
      providerSends: [...clean.providerSends, { text: "text k1", wamid: "wamid.2", callback: "m1" }]
    }
    expect(Checker.noDuplicateSend(twice).violations).toHaveLength(1)
    const resent: History = {
      ...clean,
      upstream: [{ at: 0, text: "text k1", fate: "hang", upstreamStatus: null }, ...clean.upstream]
    }
    const checked = Checker.noDuplicateSend(resent)
    expect(checked.violations).toHaveLength(1)
    expect(checked.figures.ambiguousAccepted).toBe(1)
  })

  it("finds a key left without a final answer, and a message left pending", () => {
    const unresolved = { ...clean, sends: [op("k1", [at(0, http(502, "delivery_unconfirmed", "m1"))])] }
    expect(Checker.everySendResolved(unresolved).violations).toHaveLength(1)
    const pending = { ...clean, final: [message("m1", "text k1", "pending")] }
    expect(Checker.everySendResolved(pending).violations).toHaveLength(1)
  })

  it("finds an acknowledged inbound message missing or shown twice", () => {
    expect(
      Checker.inboundVisibleOnce({ ...withInbound, final: [clean.final[0] as FinalMessage] }).violations
    ).toHaveLength(1)
    const twice = {
      ...withInbound,
      final: [...withInbound.final, { ...(withInbound.final[1] as FinalMessage), id: "i2" }]
    }
    expect(Checker.inboundVisibleOnce(twice).violations).toHaveLength(1)
  })

  it("finds a status going down, and an acknowledged status not applied", () => {
    const down = {
      ...clean,
      observations: [...clean.observations, { messageId: "m1", status: "sent", start: 3_000, end: 3_100 }]
    }
    expect(Checker.statusesMonotonic(down).violations.length).toBeGreaterThan(0)
    expect(
      Checker.statusesMonotonic({ ...clean, final: [message("m1", "text k1", "sent")] }).violations.length
    ).toBeGreaterThan(0)
  })

  it("explains 5xx inside their windows only", () => {
    const window: FaultWindow = { kind: "provider", slot: null, start: 10_000, end: 12_000, detail: "" }
    const history = (attempts: Array<Attempt>): History => ({
      ...clean,
      windows: [window],
      sends: [op("k1", attempts)]
    })
    expect(
      Checker.noServerErrorOutsideFaultWindows(history([at(11_000, http(502, "provider_unavailable"))])).violations
    ).toEqual([])
    expect(
      Checker.noServerErrorOutsideFaultWindows(history([at(20_000, http(502, "provider_unavailable"))])).violations
    ).toHaveLength(1)
    expect(
      Checker.noServerErrorOutsideFaultWindows(history([at(11_000, http(500, "internal_error"))])).violations
    ).toHaveLength(1)
    expect(
      Checker.noServerErrorOutsideFaultWindows(history([at(11_000, http(503, "database_unavailable"))])).violations
    ).toHaveLength(1)
    // An unconfirmed send: explained until its status webhook settles it, not after.
    const unconfirmed = (later: number) =>
      history([at(11_000, http(502, "delivery_unconfirmed", "m1")), at(later, http(502, "delivery_unconfirmed", "m1"))])
    const settled = (h: History): History => ({
      ...h,
      deliveries: [statusDelivery(0, "m1", "sent", [at(13_000, http(200))])]
    })
    expect(Checker.noServerErrorOutsideFaultWindows(settled(unconfirmed(15_000))).violations).toEqual([])
    expect(Checker.noServerErrorOutsideFaultWindows(settled(unconfirmed(40_000))).violations).toHaveLength(1)
  })

  it("finds a process that exited by itself", () => {
    const exited = { ...clean, exits: [{ slot: 1, at: 5, code: 1, signal: null, wasReady: true, logTail: "boom" }] }
    expect(Checker.noProcessExitedByItself(exited).violations).toHaveLength(1)
  })

  it("finds a message without its event, an event twice, a stale last status, an event without its message, a gap", () => {
    expect(Checker.eventsExactlyOnce(clean).violations).toEqual([])
    const without = (sequence: number) => clean.events.filter((e) => e.sequence !== sequence)
    expect(Checker.eventsExactlyOnce({ ...clean, events: without(2) }).violations.length).toBeGreaterThan(0)
    const repeated = { ...clean, events: [...clean.events, clean.events[1]!] }
    expect(Checker.eventsExactlyOnce(repeated).violations.length).toBeGreaterThan(0)
    expect(Checker.eventsExactlyOnce({ ...clean, events: without(5) }).violations.length).toBeGreaterThan(0)
    const stray = { ...clean, events: [...clean.events, event(6, "message.sent", "m9", "pending")] }
    expect(Checker.eventsExactlyOnce(stray).violations).toEqual(["an event names message m9, which is not stored"])
    const gap = { ...clean, events: [...clean.events.slice(0, 4), { ...clean.events[4]!, sequence: 7 }] }
    expect(Checker.eventsExactlyOnce(gap).violations.length).toBeGreaterThan(0)
  })
})
