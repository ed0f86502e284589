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
 *
 * This module holds the server (its state, fault scripting and routing) and the Effect service; what it speaks lives
 * beside it: FakeTwilioModel.ts (the types), FakeTwilioRequests.ts, FakeTwilioMessages.ts, FakeTwilioContent.ts,
 * FakeTwilioMedia.ts, FakeTwilioPosts.ts and FakeTwilioControl.ts.
 */
import * as Http from "node:http"
import { Context, Effect, Layer } from "effect"
import { approvalRequest, contentPage } from "./FakeTwilioContent.js"
import { control } from "./FakeTwilioControl.js"
import { MediaStore, type StoredMedia } from "./FakeTwilioMedia.js"
import { checkSend, messageResource } from "./FakeTwilioMessages.js"
import type {
  AcceptedSend,
  Account,
  FaultRule,
  InboundRequest,
  Options,
  RecordedRequest,
  StatusCallbackRequest
} from "./FakeTwilioModel.js"
import {
  type Delivery,
  deliver,
  errorBody,
  errorStatus,
  inboundParams,
  makeSid,
  statusCallbackParams
} from "./FakeTwilioPosts.js"
import { type ActiveRule, authenticate, json, readBody, routeOf } from "./FakeTwilioRequests.js"

export type { StoredMedia } from "./FakeTwilioMedia.js"
export type { AcceptedSend, Account, Fault, FaultRule, Operation, Options, RecordedRequest } from "./FakeTwilioModel.js"
export {
  type Delivery,
  deliver,
  errorBody,
  errorStatus,
  inboundParams,
  makeSid,
  statusCallbackParams
} from "./FakeTwilioPosts.js"

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
  async sendStatus(input: StatusCallbackRequest): Promise<Delivery> {
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
  async sendInbound(input: InboundRequest): Promise<Delivery> {
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
    const { operation, messages, approval, mediaResource, signed } = routeOf(method, path)
    if (operation === "control") return control(this, method, path, raw, response)
    const auth = authenticate(this.#options.accounts, request.headers.authorization)
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
      case "content":
        record(null)
        return json(response, 200, contentPage(this.#options.contents ?? [], url, this.#url))
      case "approval": {
        record(null)
        const sid = decodeURIComponent(approval?.[1] ?? "")
        const whatsapp = this.#options.approvals?.[sid]
        if (whatsapp === undefined) return json(response, 404, errorBody(20404, 404))
        return json(response, 200, approvalRequest(sid, auth.account.accountSid, this.#url, whatsapp))
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
    const checked = checkSend(form)
    if (typeof checked === "number") {
      record(null)
      json(response, errorStatus(checked), errorBody(checked))
      return
    }
    const sid = makeSid("SM")
    record(sid)
    const send: AcceptedSend = {
      sid,
      accountSid: account.accountSid,
      from: checked.from,
      to: checked.to,
      body: checked.body,
      contentSid: checked.contentSid,
      contentVariables: checked.contentVariables,
      statusCallback: checked.statusCallback
    }
    this.#sends.push(send)
    json(response, 201, messageResource(send))
    if (this.#options.autoStatuses === true && send.statusCallback !== null) {
      void (async () => {
        for (const status of ["sent", "delivered", "read"]) {
          await this.sendStatus({ sid, status }).catch(() => undefined)
        }
      })()
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
