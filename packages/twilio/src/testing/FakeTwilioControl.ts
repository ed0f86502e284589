/**
 * The sandbox's control API of the fake Twilio API, under `/_fake/`: the recorded requests and sends, faults, reset,
 * and signed status callbacks and inbound messages posted on request (`mediaBase64`: a file the fake holds and
 * serves at the `MediaUrl0` it posts).
 */
import type * as Http from "node:http"
import type {
  AcceptedSend,
  FaultRule,
  InboundRequest,
  RecordedRequest,
  StatusCallbackRequest
} from "./FakeTwilioModel.js"
import type { Delivery } from "./FakeTwilioPosts.js"
import { json } from "./FakeTwilioRequests.js"

/** What the control API drives: the fake server's public face. */
export interface ControlledFake {
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly sends: ReadonlyArray<AcceptedSend>
  reset(): void
  fail(rule: FaultRule): void
  sendStatus(input: StatusCallbackRequest): Promise<Delivery>
  sendInbound(input: InboundRequest): Promise<Delivery>
}

/** Answers a request under `/_fake/`; a bad input is a 400 with Twilio's `message`. */
export const control = async (
  fake: ControlledFake,
  method: string,
  path: string,
  raw: string,
  response: Http.ServerResponse
): Promise<void> => {
  const input = (): Record<string, unknown> => {
    const parsed: unknown = raw.length === 0 ? {} : JSON.parse(raw)
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {}
  }
  const text = (value: unknown) => (typeof value === "string" ? value : undefined)
  try {
    if (method === "GET" && path === "/_fake/requests") return json(response, 200, fake.requests)
    if (method === "GET" && path === "/_fake/sends") return json(response, 200, fake.sends)
    if (method === "POST" && path === "/_fake/reset") {
      fake.reset()
      return json(response, 200, { ok: true })
    }
    if (method === "POST" && path === "/_fake/faults") {
      fake.fail(input() as unknown as FaultRule)
      return json(response, 200, { ok: true })
    }
    if (method === "POST" && path === "/_fake/statuses") {
      const body = input()
      const sid = text(body.sid)
      const status = text(body.status)
      if (sid === undefined || status === undefined) return json(response, 400, { message: "sid and status" })
      const url = text(body.url)
      const errorMessage = text(body.errorMessage)
      const delivery = await fake.sendStatus({
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
      const to = text(body.to) ?? fake.sends[0]?.from
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
      return json(response, 200, await fake.sendInbound({ ...optional, ...media, url, from, to }))
    }
    return json(response, 404, { message: "unknown control route" })
  } catch (error) {
    return json(response, 400, { message: error instanceof Error ? error.message : String(error) })
  }
}
