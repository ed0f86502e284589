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
 *
 * This module holds the server (its state, fault scripting and routing) and the Effect service; what it speaks lives
 * beside it: FakeCloudModel.ts (the types), FakeGraphFormats.ts (Meta's formats), FakeCloudRequests.ts,
 * FakeCloudMessages.ts, FakeCloudTemplates.ts, FakeCloudWebhooks.ts and FakeCloudControl.ts.
 */

import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import { control } from "./FakeCloudControl.js"
import { checkSend, sendAnswer } from "./FakeCloudMessages.js"
import type {
  AcceptedSend,
  Answer,
  FaultRule,
  InboundMediaWebhook,
  InboundTextWebhook,
  Operation,
  Options,
  RecordedRequest,
  StatusWebhook,
  WebhookDelivery,
  WebhookStatus,
  WebhookTarget
} from "./FakeCloudModel.js"
import { type ActiveRule, headersOf, operationOf, parseJson, ruleMatches, sendJson } from "./FakeCloudRequests.js"
import { templatePage } from "./FakeCloudTemplates.js"
import * as Webhooks from "./FakeCloudWebhooks.js"
import { graphErrorBody, graphErrorStatus, makeWamid } from "./FakeGraphFormats.js"
import { FakeMediaStore } from "./FakeMedia.js"
import { type ThroughputLevel, ThroughputLevels } from "./FakeThroughput.js"

export type * from "./FakeCloudModel.js"
export { graphErrorBody, graphErrorStatus, makeWamid, metaJson } from "./FakeGraphFormats.js"

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
  // Webhooks (see FakeCloudWebhooks.ts)

  /** POSTs `payload` to `target.url`, Meta-escaped and signed with `X-Hub-Signature-256`. */
  emitWebhook(target: WebhookTarget, payload: unknown): Promise<WebhookDelivery> {
    return Webhooks.emitWebhook(target, payload)
  }

  /** The `messages` webhook envelope for one change of this fake's number. */
  envelope(value: Readonly<Record<string, unknown>>, phoneNumberId?: string): unknown {
    return Webhooks.envelope(this.#options, value, phoneNumberId)
  }

  statusPayload(statuses: ReadonlyArray<StatusWebhook>): unknown {
    return Webhooks.statusPayload(this.#options, statuses)
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
    return Webhooks.inboundTextPayload(this.#options, message)
  }

  inboundMediaPayload(message: InboundMediaWebhook): unknown {
    return Webhooks.inboundMediaPayload(this.#options, message)
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
        control(this, method, url, body, res)
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
        sendJson(res, 200, templatePage(this.#templates, url, this.url))
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
    const checked = checkSend(body)
    if ("problem" in checked) {
      record("graph-error")
      sendJson(res, 400, graphErrorBody(100, { details: checked.problem }))
      return
    }
    const wamid = makeWamid(checked.to)
    const callback =
      typeof checked.message.biz_opaque_callback_data === "string" ? checked.message.biz_opaque_callback_data : null
    const send: AcceptedSend = {
      wamid,
      phoneNumberId,
      to: checked.to,
      type: checked.type,
      bizOpaqueCallbackData: callback,
      body: checked.message,
      receivedAt: Date.now()
    }
    this.#sends.push(send)
    record("accepted", wamid)
    sendJson(res, 200, sendAnswer(checked, wamid))
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
