/**
 * One HTTP attempt of an outbound webhook: a POST to the address the SSRF guard checked (the name is never resolved
 * again; TLS still verifies the certificate for the URL's host), no redirects followed, a hard timeout, and the
 * start of the response body kept for the delivery log. Keep-alive agents reuse connections across deliveries.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { LookupFunction } from "node:net"
import { Effect } from "effect"
import type { CheckedTarget } from "./SsrfGuard.js"

/** How much of a response body the delivery log keeps (characters). */
export const excerptLength = 512
/** How much of a response body is read at most; the rest is discarded with the connection. */
const readLimit = 64 * 1024

export type AttemptResponse =
  | {
      readonly _tag: "Response"
      readonly statusCode: number
      readonly retryAfter: string | undefined
      readonly excerpt: string
    }
  | { readonly _tag: "Failure"; readonly error: string }

export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

export const makeAgents = (maxSockets: number): Agents => ({
  http: new http.Agent({ keepAlive: true, maxSockets }),
  https: new https.Agent({ keepAlive: true, maxSockets })
})

/** A `lookup` that answers the checked address, whatever the name. */
const pinned =
  (address: string, family: 4 | 6): LookupFunction =>
  (_hostname, options, callback) => {
    if (typeof options === "object" && options !== null && "all" in options && options.all === true) {
      ;(callback as (error: null, addresses: ReadonlyArray<{ address: string; family: number }>) => void)(null, [
        { address, family }
      ])
    } else {
      callback(null, address, family)
    }
  }

export const post = (
  target: CheckedTarget,
  headers: Record<string, string>,
  body: string,
  options: { readonly timeoutMs: number; readonly agents: Agents }
): Effect.Effect<AttemptResponse> =>
  Effect.async<AttemptResponse>((resume) => {
    const secure = target.url.protocol === "https:"
    const payload = Buffer.from(body, "utf8")
    let done = false
    const finish = (result: AttemptResponse) => {
      if (done) return
      done = true
      resume(Effect.succeed(result))
    }
    const request = (secure ? https : http).request(
      target.url,
      {
        method: "POST",
        agent: secure ? options.agents.https : options.agents.http,
        lookup: pinned(target.address, target.family),
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": String(payload.length),
          "user-agent": "Parley-Webhooks/1"
        }
      },
      (response) => {
        const chunks: Array<Buffer> = []
        let read = 0
        response.on("data", (chunk: Buffer) => {
          if (read < readLimit) chunks.push(chunk)
          read += chunk.length
          if (read >= readLimit) response.destroy()
        })
        const settle = () =>
          finish({
            _tag: "Response",
            statusCode: response.statusCode ?? 0,
            retryAfter: response.headers["retry-after"],
            excerpt: Buffer.concat(chunks).toString("utf8").slice(0, excerptLength)
          })
        response.on("end", settle)
        response.on("close", settle)
        response.on("error", settle)
      }
    )
    request.setTimeout(options.timeoutMs, () => {
      request.destroy(new Error(`no response within ${options.timeoutMs} ms`))
    })
    request.on("error", (error: NodeJS.ErrnoException) =>
      finish({ _tag: "Failure", error: error.code === undefined ? error.message : `${error.code}: ${error.message}` })
    )
    request.end(payload)
    return Effect.sync(() => request.destroy())
  })
