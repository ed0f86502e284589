/**
 * A webhook receiver on loopback, as a consumer would write one: it verifies every request with the
 * `standardwebhooks` package (the receiver side of the spec, independent of Parley's signer) and records what it
 * got. Each request is answered by the next scripted reply (default 200): a status, a connection reset, or silence.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Webhook } from "standardwebhooks"

export type Reply =
  | { readonly _tag: "Status"; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Hang" }

export interface Received {
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** The secrets (by index in `secrets`) whose verifier accepted the request. */
  readonly verifiedBy: ReadonlyArray<number>
}

export interface Receiver {
  readonly url: string
  readonly received: Array<Received>
  readonly replies: Array<Reply>
  /** Secrets the receiver tries, in order; replace them to follow a rotation. */
  secrets: Array<string>
  readonly close: () => Promise<void>
}

const verifiedBy = (secrets: ReadonlyArray<string>, body: string, headers: IncomingHttpHeaders) =>
  secrets.flatMap((secret, index) => {
    try {
      new Webhook(secret).verify(body, {
        "webhook-id": String(headers["webhook-id"]),
        "webhook-timestamp": String(headers["webhook-timestamp"]),
        "webhook-signature": String(headers["webhook-signature"])
      })
      return [index]
    } catch {
      return []
    }
  })

export const startReceiver = async (secrets: Array<string> = []): Promise<Receiver> => {
  const received: Array<Received> = []
  const replies: Array<Reply> = []
  const hanging = new Set<import("node:http").ServerResponse>()
  const state = { secrets }
  const server: Server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      received.push({ headers: request.headers, body, verifiedBy: verifiedBy(state.secrets, body, request.headers) })
      const reply = replies.shift() ?? { _tag: "Status", status: 200 }
      if (reply._tag === "Reset") {
        request.socket.destroy()
      } else if (reply._tag === "Hang") {
        hanging.add(response)
      } else {
        response.writeHead(reply.status, { "content-type": "text/plain", ...reply.headers })
        response.end(`reply ${reply.status}`)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    replies,
    get secrets() {
      return state.secrets
    },
    set secrets(value) {
      state.secrets = value
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of hanging) response.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
