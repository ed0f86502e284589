/**
 * A fake of Meta's WhatsApp Cloud API: a real HTTP server on loopback that speaks Meta's formats, records every
 * request, and can be scripted per request into any Graph error, latency, a hang past the client's timeout, a
 * dropped connection, or refused connections. It serves `message_templates` with cursor paging and emits signed
 * webhooks (statuses, inbound texts) to a URL, escaped the way Meta escapes them.
 *
 * Use it as a scoped Effect layer (`FakeCloudApi.layer()`), as a plain server (`start()`), or as a sandbox:
 * `pnpm fake-cloud-api --port 4010` (packages/whatsapp-cloud/scripts/fake-cloud-api.ts).
 *
 * A small control API lives under `/_fake/` for sandbox users: `GET /_fake/requests`, `POST /_fake/faults`,
 * `POST /_fake/templates`, `POST /_fake/statuses`, `POST /_fake/inbound`, `POST /_fake/reset`,
 * `POST /_fake/throughput` (`{ "phoneNumberId", "level" }`: what `GET /{version}/{phone-number-id}?fields=throughput`
 * answers, see FakeThroughput.ts).
 */

import { createHmac, randomBytes } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import { FakeMediaStore, type HeldMedia } from "./FakeMedia.js"
import { isThroughputLevel, phoneNumberIdOf, type ThroughputLevel, ThroughputLevels } from "./FakeThroughput.js"

// ---------------------------------------------------------------------------------------------------------------
// Model

/** What a request asked for. */
export type Operation = "send" | "read" | "templates" | "number" | "control" | "other"

/** What the fake did with a request. */
export type Answer = "accepted" | "graph-error" | "raw" | "dropped" | "hung" | "not-found"

export interface RecordedRequest {
  readonly method: string
  /** The path without the query, e.g. `/v24.0/200000000000002/messages`. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body, or `null` when there was none or it was not JSON. */
  readonly body: unknown
  readonly rawBody: string
  /** Wall-clock milliseconds when the whole request had been read. */
  readonly receivedAt: number
  readonly operation: Operation
  /** The phone number id of a send or read (`/{version}/{phone-number-id}/messages`). */
  readonly phoneNumberId: string | null
  readonly answer: Answer
  /** The wamid answered to an accepted send. */
  readonly wamid: string | null
}

/** An accepted send, as Meta would have taken it. */
export interface AcceptedSend {
  readonly wamid: string
  readonly phoneNumberId: string
  readonly to: string
  readonly type: string
  readonly bizOpaqueCallbackData: string | null
  readonly body: Readonly<Record<string, unknown>>
  readonly receivedAt: number
}

export type Fault =
  /** A Graph error envelope with this code (HTTP status from Meta's table unless given). */
  | {
      readonly kind: "graph-error"
      readonly code: number
      readonly httpStatus?: number
      readonly message?: string
      readonly details?: string
      readonly headers?: Readonly<Record<string, string>>
    }
  /** Wait, then answer normally. */
  | { readonly kind: "latency"; readonly millis: number }
  /** Read the request, record it, never answer (the client's timeout decides): the ambiguous case. */
  | { readonly kind: "hang" }
  /** Read the request, record it, then destroy the connection without answering. */
  | { readonly kind: "drop" }
  /** Answer exactly this (e.g. a 200 whose body is not JSON). */
  | {
      readonly kind: "raw"
      readonly status: number
      readonly body: string
      readonly headers?: Readonly<Record<string, string>>
    }

export interface FaultRule {
  readonly fault: Fault
  /** How many matching requests it applies to (default 1). */
  readonly times?: number | "always"
  /** Which requests it applies to (default: sends and reads). */
  readonly match?: {
    readonly operation?: Operation | ReadonlyArray<Operation>
    readonly method?: string
    /** A substring of the path, or a pattern. */
    readonly path?: string | RegExp
    /** The `to` of a send. */
    readonly to?: string
  }
}

export type WebhookStatus = "sent" | "delivered" | "read" | "failed" | "played"

export interface StatusWebhook {
  readonly wamid: string
  readonly status: WebhookStatus
  readonly recipientId: string
  readonly bizOpaqueCallbackData?: string | null
  /** Unix seconds (default: now). */
  readonly timestamp?: number
  readonly phoneNumberId?: string
  /** For `failed`; default a 131047 when the status is failed and no error is given. */
  readonly error?: { readonly code: number; readonly title: string; readonly details?: string }
}

export interface InboundTextWebhook {
  readonly from: string
  readonly text: string
  readonly profileName?: string
  readonly wamid?: string
  /** Unix seconds (default: now). */
  readonly timestamp?: number
  readonly phoneNumberId?: string
}

/** A customer's media message: a file the fake holds (`server.media.put`), announced by webhook. */
export interface InboundMediaWebhook {
  readonly from: string
  readonly kind: "image" | "audio" | "video" | "document" | "sticker"
  readonly media: HeldMedia
  readonly caption?: string
  readonly filename?: string
  readonly voice?: boolean
  readonly animated?: boolean
  readonly profileName?: string
  readonly wamid?: string
  readonly phoneNumberId?: string
}

export interface WebhookTarget {
  readonly url: string
  readonly appSecret: string
}

export interface WebhookDelivery {
  readonly status: number
  readonly body: string
  readonly rawBody: string
  readonly signature: string
}

export interface Options {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0 (any free port). */
  readonly port?: number
  /** When given, sends with any other bearer token get Meta's 190 "invalid OAuth access token". */
  readonly accessTokens?: ReadonlyArray<string>
  /** Identity used in emitted webhooks. */
  readonly wabaId?: string
  readonly phoneNumberId?: string
  readonly displayPhoneNumber?: string
  /** Throughput levels by phone number id (`STANDARD` for any other number). */
  readonly throughput?: Readonly<Record<string, ThroughputLevel>>
  /** Templates served by `GET /{version}/{waba-id}/message_templates`. */
  readonly templates?: ReadonlyArray<unknown>
  /** After each accepted send, emit these statuses to this target (a sandbox convenience). */
  readonly autoStatuses?: WebhookTarget & {
    readonly sequence?: ReadonlyArray<WebhookStatus>
    readonly delayMillis?: number
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Meta's formats

/** HTTP status and title Meta answers for the codes tests script most (Meta's error-code table). */
const knownErrors: Readonly<Record<number, readonly [number, string]>> = {
  0: [401, "AuthException"],
  1: [400, "API Unknown"],
  2: [503, "API Service"],
  3: [500, "API Method"],
  4: [400, "Application request limit reached"],
  10: [403, "Permission Denied"],
  100: [400, "Invalid parameter"],
  190: [401, "Access token has expired"],
  200: [403, "Permission error"],
  368: [403, "Temporarily blocked for policies violations"],
  80007: [400, "Rate limit issues"],
  130429: [400, "Rate limit hit"],
  130472: [400, "User's number is part of an experiment"],
  131000: [500, "Something went wrong"],
  131005: [403, "Access denied"],
  131008: [400, "Required parameter is missing"],
  131009: [400, "Parameter value is not valid"],
  131016: [500, "Service unavailable"],
  131021: [400, "Recipient cannot be sender"],
  131026: [400, "Message undeliverable"],
  131030: [400, "Recipient phone number not in allowed list"],
  131031: [403, "Account has been locked"],
  131047: [400, "Re-engagement message"],
  131048: [400, "Spam rate limit hit"],
  131049: [400, "Meta chose not to deliver"],
  131051: [400, "Unsupported message type"],
  131056: [400, "(Business Account, Consumer Account) pair rate limit hit"],
  131057: [500, "Account in maintenance mode"],
  132000: [400, "Template Param Count Mismatch"],
  132001: [404, "Template does not exist"],
  132005: [400, "Template Hydrated Text Too Long"],
  132007: [400, "Template Format Character Policy Violated"],
  132012: [400, "Template Parameter Format Mismatch"],
  132015: [400, "Template is Paused"],
  132016: [400, "Template is Disabled"],
  132018: [400, "Template parameter text invalid"],
  133004: [503, "Server Temporarily Unavailable"],
  133010: [400, "Phone number Not Registered"]
}

/** Meta's Graph error envelope for `code`. */
export const graphErrorBody = (
  code: number,
  options: { readonly message?: string; readonly details?: string } = {}
) => {
  const title = options.message ?? knownErrors[code]?.[1] ?? "Fake Graph error"
  return {
    error: {
      message: `(#${code}) ${title}`,
      type: "OAuthException",
      code,
      error_data: { messaging_product: "whatsapp", details: options.details ?? title },
      fbtrace_id: `AFake${randomBytes(9).toString("base64url")}`
    }
  }
}

export const graphErrorStatus = (code: number): number => knownErrors[code]?.[0] ?? 400

/** A wamid shaped like Meta's: `wamid.` then base64 of the recipient and a random id. */
export const makeWamid = (to: string): string => {
  const digits = to.replace(/\D+/g, "")
  const id = randomBytes(10).toString("hex").toUpperCase()
  return `wamid.${Buffer.from(`\x0b${digits}\x15\x02\x00\x11\x18\x14${id}\x00`, "latin1").toString("base64")}`
}

/** JSON as Meta sends it: non-ASCII as lower-case `\uXXXX` and `/` as `\/` (so re-serialising breaks signatures). */
export const metaJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replace(/\//g, "\\/")

const signatureOf = (rawBody: string, appSecret: string) =>
  `sha256=${createHmac("sha256", appSecret).update(rawBody, "utf8").digest("hex")}`

// ---------------------------------------------------------------------------------------------------------------
// Server

interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

const operationOf = (method: string, path: string, body: unknown): { operation: Operation; id: string | null } => {
  if (path.startsWith("/_fake/")) return { operation: "control", id: null }
  const messages = /^\/[^/]+\/([^/]+)\/messages\/?$/.exec(path)
  if (messages && method === "POST") {
    const isRead = typeof body === "object" && body !== null && (body as Record<string, unknown>).status === "read"
    return { operation: isRead ? "read" : "send", id: decodeURIComponent(messages[1] ?? "") }
  }
  if (method === "GET" && /^\/[^/]+\/[^/]+\/message_templates\/?$/.test(path))
    return { operation: "templates", id: null }
  const numberId = method === "GET" ? phoneNumberIdOf(path) : null
  if (numberId !== null) return { operation: "number", id: numberId }
  return { operation: "other", id: null }
}

const ruleMatches = (rule: FaultRule, method: string, path: string, operation: Operation, body: unknown) => {
  const match = rule.match
  const operations = match?.operation === undefined ? ["send", "read"] : [match.operation].flat()
  if (!operations.includes(operation)) return false
  if (match?.method !== undefined && match.method.toUpperCase() !== method) return false
  if (match?.path !== undefined) {
    if (typeof match.path === "string" ? !path.includes(match.path) : !match.path.test(path)) return false
  }
  if (match?.to !== undefined) {
    const to = typeof body === "object" && body !== null ? (body as Record<string, unknown>).to : undefined
    if (to !== match.to) return false
  }
  return true
}

const headersOf = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

const parseJson = (raw: string): unknown => {
  if (raw.length === 0) return null
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return null
  }
}

/** The fake server. Every method is safe to call at any time; `close` is idempotent. */
export class FakeCloudApiServer {
  readonly #options: Options
  readonly #server: Http.Server
  readonly #timers = new Set<NodeJS.Timeout>()
  #requests: Array<RecordedRequest> = []
  #sends: Array<AcceptedSend> = []
  #rules: Array<ActiveRule> = []
  #templates: ReadonlyArray<unknown>
  readonly #throughput: ThroughputLevels
  #port = 0
  #host: string
  #listening = false
  #closed = false
  /** Files the fake holds, its media routes, and the uploads it received. */
  readonly media: FakeMediaStore

  private constructor(options: Options) {
    this.#options = options
    this.#host = options.host ?? "127.0.0.1"
    this.#templates = options.templates ?? []
    this.#throughput = new ThroughputLevels(options.throughput)
    this.media = new FakeMediaStore(
      () => this.url,
      (token) => options.accessTokens === undefined || (token !== undefined && options.accessTokens.includes(token))
    )
    this.#server = Http.createServer((req, res) => {
      if (!this.media.handle(req, res)) this.#handle(req, res)
    })
    this.#server.keepAliveTimeout = 60_000
  }

  /** Starts a fake on `options.port` (default: a free port on 127.0.0.1). */
  static async start(options: Options = {}): Promise<FakeCloudApiServer> {
    const fake = new FakeCloudApiServer(options)
    await fake.#listen(options.port ?? 0)
    return fake
  }

  /** The base URL to configure the gateway with (`baseUrl`), e.g. `http://127.0.0.1:4010`. */
  get url(): string {
    return `http://${this.#host}:${this.#port}`
  }

  get port(): number {
    return this.#port
  }

  /** Every request so far, in arrival order. */
  get requests(): ReadonlyArray<RecordedRequest> {
    return this.#requests.slice()
  }

  /** Accepted sends so far, in arrival order. */
  get sends(): ReadonlyArray<AcceptedSend> {
    return this.#sends.slice()
  }

  /** Adds a fault rule; rules apply in the order added, each to its next `times` matching requests. */
  fail(rule: FaultRule): void {
    const times = rule.times ?? 1
    this.#rules.push({ rule, remaining: times === "always" ? Number.POSITIVE_INFINITY : times })
  }

  /** Forgets requests, sends, faults and throughput levels set since the start (templates stay). */
  reset(): void {
    this.#requests = []
    this.#sends = []
    this.#rules = []
    this.#throughput.reset()
  }

  /** The throughput level reported for `phoneNumberId` from now on (until `reset`). */
  setThroughput(phoneNumberId: string, level: ThroughputLevel): void {
    this.#throughput.set(phoneNumberId, level)
  }

  setTemplates(templates: ReadonlyArray<unknown>): void {
    this.#templates = templates
  }

  /** Stops listening and cuts open connections: clients get ECONNREFUSED until `acceptConnections`. */
  async refuseConnections(): Promise<void> {
    if (!this.#listening) return
    this.#listening = false
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  /** Listens again on the same port. */
  async acceptConnections(): Promise<void> {
    if (this.#listening || this.#closed) return
    await this.#listen(this.#port)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    if (!this.#listening) return
    this.#listening = false
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  // -------------------------------------------------------------------------------------------------------------
  // Webhooks

  /** POSTs `payload` to `target.url`, Meta-escaped and signed with `X-Hub-Signature-256`. */
  async emitWebhook(target: WebhookTarget, payload: unknown): Promise<WebhookDelivery> {
    const rawBody = metaJson(payload)
    const signature = signatureOf(rawBody, target.appSecret)
    const response = await fetch(target.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-hub-signature-256": signature },
      body: rawBody
    })
    return { status: response.status, body: await response.text(), rawBody, signature }
  }

  /** The `messages` webhook envelope for one change of this fake's number. */
  envelope(value: Readonly<Record<string, unknown>>, phoneNumberId?: string): unknown {
    return {
      object: "whatsapp_business_account",
      entry: [
        {
          id: this.#options.wabaId ?? "100000000000001",
          changes: [
            {
              value: {
                messaging_product: "whatsapp",
                metadata: {
                  display_phone_number: this.#options.displayPhoneNumber ?? "15550002222",
                  phone_number_id: phoneNumberId ?? this.#options.phoneNumberId ?? "200000000000002"
                },
                ...value
              },
              field: "messages"
            }
          ]
        }
      ]
    }
  }

  statusPayload(statuses: ReadonlyArray<StatusWebhook>): unknown {
    const now = Math.floor(Date.now() / 1000)
    return this.envelope(
      {
        statuses: statuses.map((s) => {
          const error =
            s.error ?? (s.status === "failed" ? { code: 131047, title: "Re-engagement message" } : undefined)
          return {
            id: s.wamid,
            status: s.status,
            timestamp: String(s.timestamp ?? now),
            recipient_id: s.recipientId.replace(/\D+/g, ""),
            ...(s.bizOpaqueCallbackData ? { biz_opaque_callback_data: s.bizOpaqueCallbackData } : {}),
            ...(s.status === "sent" || s.status === "delivered"
              ? {
                  pricing: { billable: false, pricing_model: "PMP", type: "free_customer_service", category: "service" }
                }
              : {}),
            ...(error
              ? {
                  errors: [
                    {
                      code: error.code,
                      title: error.title,
                      message: error.title,
                      error_data: { details: error.details ?? error.title },
                      href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
                    }
                  ]
                }
              : {})
          }
        })
      },
      statuses[0]?.phoneNumberId
    )
  }

  /** Emits one signed status webhook (several statuses batch into one POST). */
  emitStatuses(target: WebhookTarget, statuses: ReadonlyArray<StatusWebhook>): Promise<WebhookDelivery> {
    return this.emitWebhook(target, this.statusPayload(statuses))
  }

  /** Emits the status of an accepted send, echoing its `biz_opaque_callback_data`. */
  emitStatusFor(
    target: WebhookTarget,
    send: AcceptedSend,
    status: WebhookStatus,
    error?: StatusWebhook["error"]
  ): Promise<WebhookDelivery> {
    return this.emitStatuses(target, [
      {
        wamid: send.wamid,
        status,
        recipientId: send.to,
        bizOpaqueCallbackData: send.bizOpaqueCallbackData,
        phoneNumberId: send.phoneNumberId,
        ...(error ? { error } : {})
      }
    ])
  }

  inboundTextPayload(message: InboundTextWebhook): unknown {
    const from = message.from.replace(/\D+/g, "")
    return this.envelope(
      {
        contacts: [{ profile: { name: message.profileName ?? "Sandbox Customer" }, wa_id: from }],
        messages: [
          {
            from,
            id: message.wamid ?? makeWamid(from),
            timestamp: String(message.timestamp ?? Math.floor(Date.now() / 1000)),
            type: "text",
            text: { body: message.text }
          }
        ]
      },
      message.phoneNumberId
    )
  }

  inboundMediaPayload(message: InboundMediaWebhook): unknown {
    const from = message.from.replace(/\D+/g, "")
    const object: Record<string, unknown> = {
      id: message.media.id,
      mime_type: message.media.mimeType,
      sha256: message.media.sha256Base64
    }
    if (message.caption !== undefined) object.caption = message.caption
    if (message.filename !== undefined) object.filename = message.filename
    if (message.voice !== undefined) object.voice = message.voice
    if (message.animated !== undefined) object.animated = message.animated
    return this.envelope(
      {
        contacts: [{ profile: { name: message.profileName ?? "Sandbox Customer" }, wa_id: from }],
        messages: [
          {
            from,
            id: message.wamid ?? makeWamid(from),
            timestamp: String(Math.floor(Date.now() / 1000)),
            type: message.kind,
            [message.kind]: object
          }
        ]
      },
      message.phoneNumberId
    )
  }

  /** Emits a customer's media message (webhooks carry the media id, type and base64 SHA-256, never the bytes). */
  emitInboundMedia(target: WebhookTarget, message: InboundMediaWebhook): Promise<WebhookDelivery> {
    return this.emitWebhook(target, this.inboundMediaPayload(message))
  }

  /** Emits a customer's text message, as Meta would when they write to the business. */
  emitInboundText(target: WebhookTarget, message: InboundTextWebhook): Promise<WebhookDelivery> {
    return this.emitWebhook(target, this.inboundTextPayload(message))
  }

  // -------------------------------------------------------------------------------------------------------------
  // Internals

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error)
      this.#server.once("error", onError)
      this.#server.listen(port, this.#host, () => {
        this.#server.off("error", onError)
        this.#port = (this.#server.address() as AddressInfo).port
        this.#listening = true
        resolve()
      })
    })
  }

  #later(millis: number, f: () => void) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      f()
    }, millis)
    this.#timers.add(timer)
  }

  #handle(req: Http.IncomingMessage, res: Http.ServerResponse) {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("error", () => res.destroy())
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8")
      const url = new URL(req.url ?? "/", "http://fake.invalid")
      const method = (req.method ?? "GET").toUpperCase()
      const body = parseJson(rawBody)
      const { operation, id } = operationOf(method, url.pathname, body)
      const receivedAt = Date.now()
      // A request is recorded once, when it arrives; answering later (latency) updates its entry in place.
      let recorded: RecordedRequest | undefined
      const record = (answer: Answer, wamid: string | null = null) => {
        const entry: RecordedRequest = {
          method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: headersOf(req.headers),
          body,
          rawBody,
          receivedAt,
          operation,
          phoneNumberId: id,
          answer,
          wamid
        }
        if (recorded === undefined) this.#requests.push(entry)
        else {
          const index = this.#requests.indexOf(recorded)
          if (index >= 0) this.#requests[index] = entry
        }
        recorded = entry
      }
      if (operation === "control") {
        this.#control(method, url, body, res)
        return
      }
      const active = this.#rules.find(
        (r) => r.remaining > 0 && ruleMatches(r.rule, method, url.pathname, operation, body)
      )
      if (active) active.remaining--
      const fault = active?.rule.fault
      switch (fault?.kind) {
        case "hang":
          record("hung")
          return
        case "drop":
          record("dropped")
          req.socket.destroy()
          return
        case "graph-error":
          record("graph-error")
          sendJson(
            res,
            fault.httpStatus ?? graphErrorStatus(fault.code),
            graphErrorBody(fault.code, {
              ...(fault.message ? { message: fault.message } : {}),
              ...(fault.details ? { details: fault.details } : {})
            }),
            fault.headers
          )
          return
        case "raw":
          record("raw")
          res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers })
          res.end(fault.body)
          return
        case "latency":
          record("hung")
          this.#later(fault.millis, () => this.#answer(req, res, method, url, operation, id, body, record))
          return
        case undefined:
          this.#answer(req, res, method, url, operation, id, body, record)
      }
    })
  }

  #answer(
    req: Http.IncomingMessage,
    res: Http.ServerResponse,
    method: string,
    url: URL,
    operation: Operation,
    phoneNumberId: string | null,
    body: unknown,
    record: (answer: Answer, wamid?: string | null) => void
  ) {
    if (res.destroyed || req.socket.destroyed) {
      record("hung")
      return
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1]
    const tokens = this.#options.accessTokens
    const authorized =
      operation === "send" || operation === "read" || operation === "templates" || operation === "number"
    if (authorized && tokens !== undefined) {
      if (token === undefined || !tokens.includes(token)) {
        record("graph-error")
        sendJson(res, 401, graphErrorBody(190, { message: "Invalid OAuth access token - Cannot parse access token" }))
        return
      }
    }
    switch (operation) {
      case "send":
        return this.#send(res, phoneNumberId ?? "", body, record)
      case "read":
        record("accepted")
        sendJson(res, 200, { success: true })
        return
      case "templates":
        record("accepted")
        sendJson(res, 200, this.#templatePage(url))
        return
      case "number":
        record("accepted")
        sendJson(res, 200, this.#throughput.answer(phoneNumberId ?? "", url.searchParams.get("fields")))
        return
      default:
        record("not-found")
        sendJson(res, 400, {
          error: {
            message: `Unsupported ${method} request. Object with ID '${url.pathname.split("/")[2] ?? ""}' does not exist`,
            type: "GraphMethodException",
            code: 100,
            error_subcode: 33,
            fbtrace_id: "AFakeTraceNotFound"
          }
        })
    }
  }

  #send(
    res: Http.ServerResponse,
    phoneNumberId: string,
    body: unknown,
    record: (answer: Answer, wamid?: string | null) => void
  ) {
    const invalid = (details: string) => {
      record("graph-error")
      sendJson(res, 400, graphErrorBody(100, { details }))
    }
    if (typeof body !== "object" || body === null) return invalid("The request body must be JSON")
    const message = body as Record<string, unknown>
    if (message.messaging_product !== "whatsapp") return invalid("messaging_product must be whatsapp")
    if (typeof message.to !== "string" || message.to.length === 0) return invalid("to is required")
    if (typeof message.type !== "string") return invalid("type is required")
    const content = message[message.type]
    if (typeof content !== "object" || content === null) return invalid(`${message.type} object is required`)
    if (message.type === "text") {
      const text = (content as Record<string, unknown>).body
      if (typeof text !== "string" || text.length === 0 || text.length > 4096) {
        return invalid("text.body must be 1 to 4096 characters")
      }
    }
    if (["image", "audio", "video", "document", "sticker"].includes(message.type)) {
      const media = content as Record<string, unknown>
      if ((typeof media.id === "string") === (typeof media.link === "string")) {
        return invalid(`${message.type} must have exactly one of id or link`)
      }
    }
    if (message.type === "template" && typeof (content as Record<string, unknown>).name !== "string") {
      return invalid("template.name is required")
    }
    const wamid = makeWamid(message.to)
    const callback = typeof message.biz_opaque_callback_data === "string" ? message.biz_opaque_callback_data : null
    const send: AcceptedSend = {
      wamid,
      phoneNumberId,
      to: message.to,
      type: message.type,
      bizOpaqueCallbackData: callback,
      body: message,
      receivedAt: Date.now()
    }
    this.#sends.push(send)
    record("accepted", wamid)
    sendJson(res, 200, {
      messaging_product: "whatsapp",
      contacts: [{ input: message.to, wa_id: message.to.replace(/\D+/g, "") }],
      messages: [message.type === "template" ? { id: wamid, message_status: "accepted" } : { id: wamid }]
    })
    const auto = this.#options.autoStatuses
    if (auto) {
      const sequence = auto.sequence ?? ["sent", "delivered", "read"]
      sequence.forEach((status, i) => {
        this.#later((auto.delayMillis ?? 200) * (i + 1), () => {
          this.emitStatusFor(auto, send, status).catch(() => undefined)
        })
      })
    }
  }

  #templatePage(url: URL) {
    const limit = Math.max(1, Math.min(1000, Number(url.searchParams.get("limit") ?? "25") || 25))
    const after = url.searchParams.get("after")
    const offset = after === null ? 0 : Number(Buffer.from(after, "base64url").toString("utf8")) || 0
    const data = this.#templates.slice(offset, offset + limit)
    const end = offset + data.length
    const cursor = (n: number) => Buffer.from(String(n), "utf8").toString("base64url")
    const paging: Record<string, unknown> = { cursors: { before: cursor(offset), after: cursor(end) } }
    if (end < this.#templates.length) {
      const next = new URL(url.pathname, this.url)
      for (const [k, v] of url.searchParams) if (k !== "after") next.searchParams.set(k, v)
      next.searchParams.set("after", cursor(end))
      paging.next = next.toString()
    }
    return { data, paging }
  }

  #control(method: string, url: URL, body: unknown, res: Http.ServerResponse) {
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
        return sendJson(res, 200, { requests: this.#requests, sends: this.#sends })
      case "POST /_fake/reset":
        this.reset()
        return sendJson(res, 200, { ok: true })
      case "POST /_fake/templates":
        this.setTemplates(Array.isArray(body) ? body : [])
        return sendJson(res, 200, { ok: true })
      case "POST /_fake/throughput": {
        if (typeof object.phoneNumberId !== "string" || !isThroughputLevel(object.level)) {
          return sendJson(res, 400, { error: "expected { phoneNumberId, level: STANDARD | HIGH | NOT_APPLICABLE }" })
        }
        this.setThroughput(object.phoneNumberId, object.level)
        return sendJson(res, 200, { ok: true })
      }
      case "POST /_fake/faults": {
        const rule = object as unknown as FaultRule
        if (typeof rule.fault !== "object" || rule.fault === null) {
          return sendJson(res, 400, { error: "expected { fault, times?, match? }" })
        }
        this.fail(rule)
        return sendJson(res, 200, { ok: true })
      }
      case "POST /_fake/statuses": {
        const to = target(object)
        const statuses = Array.isArray(object.statuses) ? (object.statuses as ReadonlyArray<StatusWebhook>) : []
        if (!to) return sendJson(res, 400, { error: "expected { url, appSecret, statuses }" })
        return void relay(this.emitStatuses(to, statuses))
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
        return void relay(this.emitInboundText(to, message))
      }
      default:
        return sendJson(res, 404, { error: `no control route ${route}` })
    }
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

const sendJson = (
  res: Http.ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {}
) => {
  if (res.destroyed) return
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers })
  res.end(JSON.stringify(body))
}

/** Starts a fake server (outside Effect). */
export const start = (options: Options = {}): Promise<FakeCloudApiServer> => FakeCloudApiServer.start(options)

// ---------------------------------------------------------------------------------------------------------------
// Effect service

export class FakeCloudApi extends Context.Tag("@parley/whatsapp-cloud/testing/FakeCloudApi")<
  FakeCloudApi,
  {
    readonly server: FakeCloudApiServer
    /** The base URL for the gateway's `baseUrl`. */
    readonly url: string
    readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
    readonly sends: Effect.Effect<ReadonlyArray<AcceptedSend>>
    readonly fail: (rule: FaultRule) => Effect.Effect<void>
    readonly reset: Effect.Effect<void>
    readonly setTemplates: (templates: ReadonlyArray<unknown>) => Effect.Effect<void>
    readonly setThroughput: (phoneNumberId: string, level: ThroughputLevel) => Effect.Effect<void>
    readonly refuseConnections: Effect.Effect<void>
    readonly acceptConnections: Effect.Effect<void>
    readonly emitStatuses: (
      target: WebhookTarget,
      statuses: ReadonlyArray<StatusWebhook>
    ) => Effect.Effect<WebhookDelivery>
    readonly emitInboundText: (target: WebhookTarget, message: InboundTextWebhook) => Effect.Effect<WebhookDelivery>
    readonly emitInboundMedia: (target: WebhookTarget, message: InboundMediaWebhook) => Effect.Effect<WebhookDelivery>
  }
>() {}

/** Starts the fake for the scope and closes it after. */
export const make = (options: Options = {}) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => FakeCloudApiServer.start(options)),
      (server) => Effect.promise(() => server.close())
    ),
    (server): FakeCloudApi["Type"] => ({
      server,
      url: server.url,
      requests: Effect.sync(() => server.requests),
      sends: Effect.sync(() => server.sends),
      fail: (rule) => Effect.sync(() => server.fail(rule)),
      reset: Effect.sync(() => server.reset()),
      setTemplates: (templates) => Effect.sync(() => server.setTemplates(templates)),
      setThroughput: (phoneNumberId, level) => Effect.sync(() => server.setThroughput(phoneNumberId, level)),
      refuseConnections: Effect.promise(() => server.refuseConnections()),
      acceptConnections: Effect.promise(() => server.acceptConnections()),
      emitStatuses: (target, statuses) => Effect.promise(() => server.emitStatuses(target, statuses)),
      emitInboundText: (target, message) => Effect.promise(() => server.emitInboundText(target, message)),
      emitInboundMedia: (target, message) => Effect.promise(() => server.emitInboundMedia(target, message))
    })
  )

export const layer = (options: Options = {}): Layer.Layer<FakeCloudApi> => Layer.scoped(FakeCloudApi, make(options))
