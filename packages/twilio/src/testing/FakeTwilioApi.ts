/**
 * A fake of the parts of Twilio that Parley uses, as a real HTTP server on loopback: the Messages API
 * (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, Basic auth), the typing indicator
 * (`POST /v2/Indicators/Typing.json`), the Content API (`GET /v1/Content`, `GET /v1/Content/{sid}/ApprovalRequests`),
 * and customers' media (`GET`/`DELETE /2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`, see FakeTwilioMedia.ts).
 * One server plays api.twilio.com, messaging.twilio.com and content.twilio.com: point all three base URLs at it.
 *
 * It records every request, answers like Twilio (`SM…` sids, status `queued`, errors as
 * `{ code, message, more_info, status }`), can be scripted into faults (a Twilio error, a hang, a reset), and sends
 * status callbacks and inbound messages to a URL, signed with `X-Twilio-Signature` like Twilio does.
 *
 * Control routes for sandboxes: `GET /_fake/requests`, `POST /_fake/faults`, `POST /_fake/reset`,
 * `POST /_fake/statuses` (`{ sid, status, errorCode?, errorMessage?, url? }`) and `POST /_fake/inbound`
 * (`{ url, from, to?, body?, profileName?, mediaUrl?, mediaContentType?, mediaBase64? }`; `mediaBase64` is a file the
 * fake holds and serves at the `MediaUrl0` it posts).
 */
import * as Http from "node:http"
import { Context, Effect, Layer } from "effect"
import { MediaStore, resourcePath, type StoredMedia, signedPath } from "./FakeTwilioMedia.js"
import {
  type Delivery,
  deliver,
  errorBody,
  errorStatus,
  inboundParams,
  makeSid,
  statusCallbackParams
} from "./FakeTwilioPosts.js"

export type { StoredMedia } from "./FakeTwilioMedia.js"
export {
  type Delivery,
  deliver,
  errorBody,
  errorStatus,
  inboundParams,
  makeSid,
  statusCallbackParams
} from "./FakeTwilioPosts.js"

/** `media`: the Media resource (credentials required); `media-file`: the signed path it redirects to (none). */
export type Operation = "send" | "typing" | "content" | "approval" | "media" | "media-file" | "control" | "other"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly operation: Operation
  /** The form fields in arrival order (a repeated name once per value). */
  readonly form: ReadonlyArray<readonly [string, string]>
  /** The Basic-auth user name (Account SID or API key SID), when one was given. */
  readonly username: string | null
  /** The sid given to an accepted send. */
  readonly sid: string | null
}

export interface AcceptedSend {
  readonly sid: string
  readonly accountSid: string
  readonly from: string
  readonly to: string
  readonly body: string | null
  readonly contentSid: string | null
  readonly contentVariables: Readonly<Record<string, string>> | null
  readonly statusCallback: string | null
}

export type Fault =
  /** Answer with Twilio's error body for `code` (HTTP `status`, default from the code). */
  | {
      readonly kind: "twilio-error"
      readonly code: number
      readonly status?: number
      readonly message?: string
      readonly headers?: Readonly<Record<string, string>>
    }
  /** Read the request, then never answer (the client times out: outcome unknown). */
  | { readonly kind: "hang" }
  /** Read the request, then destroy the connection. */
  | { readonly kind: "reset" }
  /** Answer `status` with this body. */
  | { readonly kind: "raw"; readonly status: number; readonly body: string }

export interface FaultRule {
  readonly fault: Fault
  /** How many matching requests get the fault (default 1). */
  readonly times?: number | "always"
  /** Which operations it applies to (default sends and typing indicators). */
  readonly operations?: ReadonlyArray<Operation>
}

export interface Account {
  readonly accountSid: string
  readonly authToken: string
  readonly apiKeys?: ReadonlyArray<{ readonly sid: string; readonly secret: string }>
}

export interface Options {
  readonly host?: string
  /** 0 (default): a port chosen by the OS. */
  readonly port?: number
  readonly accounts: ReadonlyArray<Account>
  /** Content resources as `GET /v1/Content` lists them. */
  readonly contents?: ReadonlyArray<Record<string, unknown>>
  /** `whatsapp` approval objects by Content SID (absent: not submitted, 404). */
  readonly approvals?: Readonly<Record<string, Record<string, unknown>>>
  /** After each accepted send with a `StatusCallback`, post signed `sent`, `delivered` and `read` callbacks. */
  readonly autoStatuses?: boolean
}

const e164Address = /^whatsapp:\+[1-9]\d{7,14}$/

/** `ContentVariables` as the fake checks it: a JSON object of strings (Twilio answers 21656 otherwise). */
const parseVariables = (raw: string | undefined): Record<string, string> | null | "invalid" => {
  if (raw === undefined) return null
  try {
    const parsed: unknown = JSON.parse(raw)
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "invalid"
    const variables: Record<string, string> = {}
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v !== "string") return "invalid"
      variables[k] = v
    }
    return variables
  } catch {
    return "invalid"
  }
}

interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const json = (response: Http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}

export class FakeTwilioApiServer {
  readonly #options: Options
  readonly #server: Http.Server
  #requests: Array<RecordedRequest> = []
  #sends: Array<AcceptedSend> = []
  #rules: Array<ActiveRule> = []
  readonly #media = new MediaStore()
  #url = ""

  private constructor(options: Options) {
    this.#options = options
    this.#server = Http.createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) json(response, 500, { message: String(error) })
        else response.destroy()
      })
    })
  }

  static async start(options: Options): Promise<FakeTwilioApiServer> {
    const fake = new FakeTwilioApiServer(options)
    await new Promise<void>((resolve, reject) => {
      fake.#server.once("error", reject)
      fake.#server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve())
    })
    const address = fake.#server.address()
    if (address === null || typeof address === "string") throw new Error("the fake Twilio API has no TCP address")
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    fake.#url = `http://${host}:${address.port}`
    return fake
  }

  /** The base URL for `apiBaseUrl`, `contentBaseUrl` and `messagingBaseUrl`. */
  get url(): string {
    return this.#url
  }

  get requests(): ReadonlyArray<RecordedRequest> {
    return [...this.#requests]
  }

  get sends(): ReadonlyArray<AcceptedSend> {
    return [...this.#sends]
  }

  fail(rule: FaultRule): void {
    this.#rules.push({ rule, remaining: rule.times === "always" ? Number.POSITIVE_INFINITY : (rule.times ?? 1) })
  }

  reset(): void {
    this.#requests = []
    this.#sends = []
    this.#rules = []
  }

  /** Posts a signed status callback for an accepted send to its `StatusCallback` (or to `url`). */
  async sendStatus(input: {
    readonly sid: string
    readonly status: string
    readonly errorCode?: number
    readonly errorMessage?: string
    readonly url?: string
  }): Promise<Delivery> {
    const send = this.#sends.find((s) => s.sid === input.sid)
    if (send === undefined) throw new Error(`no accepted send ${input.sid}`)
    const url = input.url ?? send.statusCallback
    if (url === null) throw new Error(`send ${input.sid} has no StatusCallback`)
    const params = statusCallbackParams({
      sid: send.sid,
      accountSid: send.accountSid,
      from: send.from,
      to: send.to,
      status: input.status,
      ...(input.errorCode === undefined ? {} : { errorCode: input.errorCode }),
      ...(input.errorMessage === undefined ? {} : { errorMessage: input.errorMessage })
    })
    return deliver(url, params, this.#authToken(send.accountSid))
  }

  /** Posts a signed inbound message from a customer (`from`, `to` as `whatsapp:+E164`) to `url`. */
  async sendInbound(input: {
    readonly url: string
    readonly from: string
    readonly to: string
    readonly accountSid?: string
    readonly body?: string
    readonly sid?: string
    readonly profileName?: string
    readonly mediaUrl?: string
    readonly mediaContentType?: string
    readonly replyTo?: string
    /** A file the customer sent: held as the message's Media (its `MM…` sid), posted as `MediaUrl0`. */
    readonly media?: { readonly contentType: string; readonly bytes: Uint8Array }
  }): Promise<Delivery> {
    const accountSid = input.accountSid ?? this.#options.accounts[0]?.accountSid
    if (accountSid === undefined) throw new Error("the fake has no account")
    const { media, ...rest } = input
    const held =
      media === undefined
        ? undefined
        : this.putMedia({ accountSid, ...media, ...(input.sid === undefined ? {} : { messageSid: input.sid }) })
    const fields =
      held === undefined
        ? rest
        : { ...rest, sid: held.file.messageSid, mediaUrl: held.url, mediaContentType: held.file.contentType }
    return deliver(input.url, inboundParams({ ...fields, accountSid }), this.#authToken(accountSid))
  }

  /**
   * Holds a file as a customer's media (default account: the first). Answers it, its `MediaUrl` and the provider
   * media id Parley stores for it (`MM…/ME…`).
   */
  putMedia(input: {
    readonly contentType: string
    readonly bytes: Uint8Array
    readonly accountSid?: string
    readonly messageSid?: string
  }): { readonly file: StoredMedia; readonly url: string; readonly providerMediaId: string } {
    const accountSid = input.accountSid ?? this.#options.accounts[0]?.accountSid
    if (accountSid === undefined) throw new Error("the fake has no account")
    const file = this.#media.put({ ...input, accountSid })
    return {
      file,
      url: `${this.#url}/2010-04-01/Accounts/${accountSid}/Messages/${file.messageSid}/Media/${file.mediaSid}`,
      providerMediaId: `${file.messageSid}/${file.mediaSid}`
    }
  }

  /** Deletes a held file, as `DELETE` on its Media resource does; later downloads answer 404. */
  deleteMedia(mediaSid: string): boolean {
    return this.#media.delete(mediaSid)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  #authToken(accountSid: string): string {
    const account = this.#options.accounts.find((a) => a.accountSid === accountSid)
    if (account === undefined) throw new Error(`unknown account ${accountSid}`)
    return account.authToken
  }

  /** The account the Basic credentials belong to, or null. */
  #authenticate(header: string | undefined): { readonly account: Account; readonly username: string } | null {
    const match = /^Basic\s+(\S+)$/i.exec(header ?? "")
    if (match?.[1] === undefined) return null
    const decoded = Buffer.from(match[1], "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    if (colon < 0) return null
    const username = decoded.slice(0, colon)
    const password = decoded.slice(colon + 1)
    for (const account of this.#options.accounts) {
      if (account.accountSid === username && account.authToken === password) return { account, username }
      if ((account.apiKeys ?? []).some((k) => k.sid === username && k.secret === password)) {
        return { account, username }
      }
    }
    return null
  }

  async #handle(request: Http.IncomingMessage, response: Http.ServerResponse): Promise<void> {
    const method = request.method ?? "GET"
    const url = new URL(request.url ?? "/", "http://fake")
    const path = url.pathname
    const raw = await readBody(request)
    const form: ReadonlyArray<readonly [string, string]> = (request.headers["content-type"] ?? "").includes(
      "application/x-www-form-urlencoded"
    )
      ? Array.from(new URLSearchParams(raw).entries())
      : []
    const messages = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path)
    const approval = /^\/v1\/Content\/([^/]+)\/ApprovalRequests$/.exec(path)
    const mediaResource = resourcePath.exec(path)
    const signed = signedPath.exec(path)
    const operation: Operation = path.startsWith("/_fake/")
      ? "control"
      : mediaResource && (method === "GET" || method === "DELETE")
        ? "media"
        : signed && method === "GET"
          ? "media-file"
          : messages && method === "POST"
            ? "send"
            : path === "/v2/Indicators/Typing.json" && method === "POST"
              ? "typing"
              : path === "/v1/Content" && method === "GET"
                ? "content"
                : approval && method === "GET"
                  ? "approval"
                  : "other"
    if (operation === "control") return this.#control(method, path, raw, response)
    const auth = this.#authenticate(request.headers.authorization)
    const record = (sid: string | null) =>
      this.#requests.push({ method, path, operation, form, username: auth?.username ?? null, sid })

    const active = this.#rules.find(
      (r) => r.remaining > 0 && (r.rule.operations ?? ["send", "typing"]).includes(operation)
    )
    if (active !== undefined) {
      active.remaining--
      record(null)
      const fault = active.rule.fault
      switch (fault.kind) {
        case "twilio-error": {
          const status = fault.status ?? errorStatus(fault.code)
          return json(response, status, errorBody(fault.code, status, fault.message), { ...fault.headers })
        }
        case "raw":
          response.writeHead(fault.status, { "content-type": "text/plain" })
          response.end(fault.body)
          return
        case "hang":
          return
        case "reset":
          request.socket.destroy()
          return
      }
    }

    if (operation === "media-file") {
      // The signed URL stands on its own; `username` records whether credentials were (wrongly) sent along.
      record(null)
      return this.#media.serveSigned(signed?.[1] ?? "", response)
    }
    const pathAccount = messages?.[1] ?? mediaResource?.[1]
    if (auth === null || (pathAccount !== undefined && decodeURIComponent(pathAccount) !== auth.account.accountSid)) {
      record(null)
      return json(response, 401, errorBody(20003, 401))
    }
    switch (operation) {
      case "media": {
        record(null)
        const [, accountSid = "", messageSid = "", mediaSid = ""] = mediaResource ?? []
        const file = this.#media.find(decodeURIComponent(accountSid), messageSid, mediaSid)
        if (file === undefined) return json(response, 404, errorBody(20404, 404))
        if (method === "DELETE") {
          this.#media.delete(file.mediaSid)
          response.writeHead(204)
          response.end()
          return
        }
        response.writeHead(307, { location: `${this.#url}/_media/${this.#media.sign(file)}` })
        response.end()
        return
      }
      case "send":
        return this.#send(auth.account, form, response, record)
      case "typing": {
        record(null)
        const messageId = form.find(([k]) => k === "messageId")?.[1]
        if (messageId === undefined || form.find(([k]) => k === "channel")?.[1] !== "whatsapp") {
          return json(response, 400, errorBody(21000, 400, "messageId and channel=whatsapp are required"))
        }
        return json(response, 200, { success: true })
      }
      case "content": {
        record(null)
        const all = this.#options.contents ?? []
        const pageSize = Math.max(1, Math.min(500, Number(url.searchParams.get("PageSize") ?? "50") || 50))
        const page = Math.max(0, Number(url.searchParams.get("Page") ?? "0") || 0)
        const slice = all.slice(page * pageSize, (page + 1) * pageSize)
        const more = (page + 1) * pageSize < all.length
        return json(response, 200, {
          contents: slice,
          meta: {
            page,
            page_size: pageSize,
            first_page_url: `${this.#url}/v1/Content?PageSize=${pageSize}&Page=0`,
            previous_page_url: null,
            url: `${this.#url}/v1/Content?PageSize=${pageSize}&Page=${page}`,
            next_page_url: more ? `${this.#url}/v1/Content?PageSize=${pageSize}&Page=${page + 1}` : null,
            key: "contents"
          }
        })
      }
      case "approval": {
        record(null)
        const sid = decodeURIComponent(approval?.[1] ?? "")
        const whatsapp = this.#options.approvals?.[sid]
        if (whatsapp === undefined) return json(response, 404, errorBody(20404, 404))
        return json(response, 200, {
          sid,
          account_sid: auth.account.accountSid,
          url: `${this.#url}/v1/Content/${sid}/ApprovalRequests`,
          whatsapp
        })
      }
      default:
        record(null)
        return json(response, 404, errorBody(20404, 404))
    }
  }

  #send(
    account: Account,
    form: ReadonlyArray<readonly [string, string]>,
    response: Http.ServerResponse,
    record: (sid: string | null) => void
  ): void {
    const field = (name: string) => form.find(([k]) => k === name)?.[1]
    const to = field("To")
    const from = field("From")
    const body = field("Body") ?? null
    const contentSid = field("ContentSid") ?? null
    const rawVariables = field("ContentVariables")
    const parsed = parseVariables(rawVariables)
    const refusal =
      to === undefined || !e164Address.test(to)
        ? 21211
        : from === undefined || !e164Address.test(from)
          ? 21606
          : rawVariables !== undefined && contentSid === null
            ? 21654
            : body === null && contentSid === null && field("MediaUrl") === undefined
              ? 21619
              : parsed === "invalid"
                ? 21656
                : null
    if (refusal !== null || to === undefined || from === undefined || parsed === "invalid") {
      const code = refusal ?? 21211
      record(null)
      json(response, errorStatus(code), errorBody(code))
      return
    }
    const contentVariables = parsed
    const sid = makeSid("SM")
    const statusCallback = field("StatusCallback") ?? null
    record(sid)
    this.#sends.push({
      sid,
      accountSid: account.accountSid,
      from,
      to,
      body,
      contentSid,
      contentVariables,
      statusCallback
    })
    json(response, 201, {
      sid,
      account_sid: account.accountSid,
      messaging_service_sid: null,
      from,
      to,
      body: body ?? "",
      status: "queued",
      num_media: "0",
      num_segments: "1",
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      price: null,
      api_version: "2010-04-01",
      date_created: new Date().toUTCString().replace("GMT", "+0000"),
      uri: `/2010-04-01/Accounts/${account.accountSid}/Messages/${sid}.json`
    })
    if (this.#options.autoStatuses === true && statusCallback !== null) {
      void (async () => {
        for (const status of ["sent", "delivered", "read"]) {
          await this.sendStatus({ sid, status }).catch(() => undefined)
        }
      })()
    }
  }

  async #control(method: string, path: string, raw: string, response: Http.ServerResponse): Promise<void> {
    const input = (): Record<string, unknown> => {
      const parsed: unknown = raw.length === 0 ? {} : JSON.parse(raw)
      return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {}
    }
    const text = (value: unknown) => (typeof value === "string" ? value : undefined)
    try {
      if (method === "GET" && path === "/_fake/requests") return json(response, 200, this.requests)
      if (method === "GET" && path === "/_fake/sends") return json(response, 200, this.sends)
      if (method === "POST" && path === "/_fake/reset") {
        this.reset()
        return json(response, 200, { ok: true })
      }
      if (method === "POST" && path === "/_fake/faults") {
        this.fail(input() as unknown as FaultRule)
        return json(response, 200, { ok: true })
      }
      if (method === "POST" && path === "/_fake/statuses") {
        const body = input()
        const sid = text(body.sid)
        const status = text(body.status)
        if (sid === undefined || status === undefined) return json(response, 400, { message: "sid and status" })
        const url = text(body.url)
        const errorMessage = text(body.errorMessage)
        const delivery = await this.sendStatus({
          sid,
          status,
          ...(typeof body.errorCode === "number" ? { errorCode: body.errorCode } : {}),
          ...(errorMessage === undefined ? {} : { errorMessage }),
          ...(url === undefined ? {} : { url })
        })
        return json(response, 200, delivery)
      }
      if (method === "POST" && path === "/_fake/inbound") {
        const body = input()
        const url = text(body.url)
        const from = text(body.from)
        const to = text(body.to) ?? this.#sends[0]?.from
        if (url === undefined || from === undefined || to === undefined) {
          return json(response, 400, { message: "url, from and to (whatsapp:+E164) are required" })
        }
        const optional: Record<string, string> = {}
        for (const key of ["body", "sid", "profileName", "mediaUrl", "mediaContentType", "replyTo", "accountSid"]) {
          const value = text(body[key])
          if (value !== undefined) optional[key] = value
        }
        // `mediaBase64` (with `mediaContentType`): a file the fake holds and serves at the posted `MediaUrl0`.
        const mediaBase64 = text(body.mediaBase64)
        const media =
          mediaBase64 === undefined
            ? {}
            : {
                media: {
                  contentType: optional.mediaContentType ?? "image/jpeg",
                  bytes: new Uint8Array(Buffer.from(mediaBase64, "base64"))
                }
              }
        return json(response, 200, await this.sendInbound({ ...optional, ...media, url, from, to }))
      }
      return json(response, 404, { message: "unknown control route" })
    } catch (error) {
      return json(response, 400, { message: error instanceof Error ? error.message : String(error) })
    }
  }
}

export class FakeTwilioApi extends Context.Tag("@parley/twilio/testing/FakeTwilioApi")<
  FakeTwilioApi,
  {
    readonly server: FakeTwilioApiServer
    /** The base URL for the gateway's `apiBaseUrl`, `contentBaseUrl` and `messagingBaseUrl`. */
    readonly url: string
    readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
    readonly sends: Effect.Effect<ReadonlyArray<AcceptedSend>>
    readonly fail: (rule: FaultRule) => Effect.Effect<void>
    readonly reset: Effect.Effect<void>
  }
>() {}

export const make = (options: Options) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => FakeTwilioApiServer.start(options)),
      (server) => Effect.promise(() => server.close())
    ),
    (server) =>
      FakeTwilioApi.of({
        server,
        url: server.url,
        requests: Effect.sync(() => server.requests),
        sends: Effect.sync(() => server.sends),
        fail: (rule) => Effect.sync(() => server.fail(rule)),
        reset: Effect.sync(() => server.reset())
      })
  )

export const layer = (options: Options): Layer.Layer<FakeTwilioApi> => Layer.scoped(FakeTwilioApi, make(options))
