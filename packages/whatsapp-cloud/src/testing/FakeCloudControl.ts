/**
 * The sandbox's control API of the fake Cloud API, under `/_fake/`: the recorded requests, faults, templates,
 * throughput levels, reset, and webhooks (statuses, a customer's text) emitted on request.
 */
import type * as Http from "node:http"
import type {
  AcceptedSend,
  FaultRule,
  InboundTextWebhook,
  RecordedRequest,
  StatusWebhook,
  WebhookDelivery,
  WebhookTarget
} from "./FakeCloudModel.js"
import { sendJson } from "./FakeCloudRequests.js"
import { isThroughputLevel, type ThroughputLevel } from "./FakeThroughput.js"

/** What the control API drives: the fake server's public face. */
export interface ControlledFake {
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly sends: ReadonlyArray<AcceptedSend>
  reset(): void
  fail(rule: FaultRule): void
  setTemplates(templates: ReadonlyArray<unknown>): void
  setThroughput(phoneNumberId: string, level: ThroughputLevel): void
  emitStatuses(target: WebhookTarget, statuses: ReadonlyArray<StatusWebhook>): Promise<WebhookDelivery>
  emitInboundText(target: WebhookTarget, message: InboundTextWebhook): Promise<WebhookDelivery>
}

/** Answers a request under `/_fake/`. */
export const control = (fake: ControlledFake, method: string, url: URL, body: unknown, res: Http.ServerResponse) => {
  const route = `${method} ${url.pathname.replace(/\/+$/, "")}`
  const target = (b: Record<string, unknown>): WebhookTarget | undefined =>
    typeof b.url === "string" && typeof b.appSecret === "string" ? { url: b.url, appSecret: b.appSecret } : undefined
  const object = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {}
  const relay = (delivery: Promise<WebhookDelivery>) =>
    delivery.then(
      (d) => sendJson(res, 200, { status: d.status, body: d.body }),
      (e: unknown) => sendJson(res, 502, { error: String(e) })
    )
  switch (route) {
    case "GET /_fake/requests":
      return sendJson(res, 200, { requests: fake.requests, sends: fake.sends })
    case "POST /_fake/reset":
      fake.reset()
      return sendJson(res, 200, { ok: true })
    case "POST /_fake/templates":
      fake.setTemplates(Array.isArray(body) ? body : [])
      return sendJson(res, 200, { ok: true })
    case "POST /_fake/throughput": {
      if (typeof object.phoneNumberId !== "string" || !isThroughputLevel(object.level)) {
        return sendJson(res, 400, { error: "expected { phoneNumberId, level: STANDARD | HIGH | NOT_APPLICABLE }" })
      }
      fake.setThroughput(object.phoneNumberId, object.level)
      return sendJson(res, 200, { ok: true })
    }
    case "POST /_fake/faults": {
      const rule = object as unknown as FaultRule
      if (typeof rule.fault !== "object" || rule.fault === null) {
        return sendJson(res, 400, { error: "expected { fault, times?, match? }" })
      }
      fake.fail(rule)
      return sendJson(res, 200, { ok: true })
    }
    case "POST /_fake/statuses": {
      const to = target(object)
      const statuses = Array.isArray(object.statuses) ? (object.statuses as ReadonlyArray<StatusWebhook>) : []
      if (!to) return sendJson(res, 400, { error: "expected { url, appSecret, statuses }" })
      return void relay(fake.emitStatuses(to, statuses))
    }
    case "POST /_fake/inbound": {
      const to = target(object)
      const timestamp = inboundTimestamp(object.timestamp)
      if (!to || typeof object.from !== "string" || typeof object.text !== "string" || timestamp === null) {
        return sendJson(res, 400, {
          error: "expected { url, appSecret, from, text, timestamp? } (timestamp: Unix seconds or an ISO 8601 date)"
        })
      }
      const message: InboundTextWebhook = {
        from: object.from,
        text: object.text,
        ...(timestamp === undefined ? {} : { timestamp })
      }
      return void relay(fake.emitInboundText(to, message))
    }
    default:
      return sendJson(res, 404, { error: `no control route ${route}` })
  }
}

/**
 * The `timestamp` of `POST /_fake/inbound` as Unix seconds, the unit Meta's webhooks carry: absent → undefined (now),
 * a number → whole seconds, a string → an ISO 8601 date (or digits, as Meta sends them); anything else → null (400).
 * An old timestamp lets a sandbox user reproduce a customer who wrote more than 24 hours ago.
 */
const inboundTimestamp = (value: unknown): number | undefined | null => {
  if (value === undefined) return undefined
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.floor(value) : null
  if (typeof value !== "string") return null
  if (/^\d+$/.test(value)) return Number(value)
  const millis = Date.parse(value)
  return Number.isNaN(millis) || millis < 0 ? null : Math.floor(millis / 1000)
}
