/**
 * What stands between Parley and the fake Cloud API: a loopback HTTP proxy that forwards every request to the fake,
 * except sends caught by the nemesis's current provider fault. Faults that answer (500, 503, 429, Graph errors)
 * never reach the fake; `hang` and `reset` read the send and drop it; `accepted-then-reset` and `accepted-then-hang`
 * let the fake accept the send and then lose the answer, the case where the provider has the message and Parley
 * cannot know. Every send that passes here is recorded with what happened to it.
 */
import * as Http from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import type { Random } from "./Random.js"

export const providerFaults = [
  "http-500",
  "http-503",
  "http-429",
  "graph-130429",
  "graph-131056",
  "hang",
  "reset",
  "accepted-then-reset",
  "accepted-then-hang"
] as const
export type ProviderFault = (typeof providerFaults)[number]

/** A fault whose outcome Parley cannot know: the send may (or, for accepted-*, does) sit at the provider. */
export const ambiguousFaults: ReadonlySet<ProviderFault> = new Set([
  "hang",
  "reset",
  "accepted-then-reset",
  "accepted-then-hang"
])

export interface UpstreamSend {
  /** Milliseconds since the run started. */
  readonly at: number
  /** The send's text (it names its idempotency key). */
  readonly text: string | null
  /** `forwarded`, or the fault applied. */
  readonly fate: "forwarded" | ProviderFault
  /** The fake's HTTP status, when the request reached it. */
  readonly upstreamStatus: number | null
}

export interface ActiveFault {
  /** Each send caught gets one of these, drawn at random. */
  readonly faults: ReadonlyArray<ProviderFault>
  /** Share of sends caught while active. */
  readonly probability: number
}

const textOf = (body: unknown): string | null => {
  if (typeof body !== "object" || body === null) return null
  const text = (body as Record<string, unknown>).text
  if (typeof text !== "object" || text === null) return null
  const value = (text as Record<string, unknown>).body
  return typeof value === "string" ? value : null
}

const isSend = (method: string, path: string, body: unknown) =>
  method === "POST" &&
  /^\/[^/]+\/[^/]+\/messages\/?$/.test(path) &&
  !(typeof body === "object" && body !== null && (body as Record<string, unknown>).status === "read")

export class FaultyUpstream {
  readonly sends: Array<UpstreamSend> = []
  /** Faults applied, by kind. */
  readonly injected = new Map<ProviderFault, number>()
  active: ActiveFault | undefined
  readonly #server: Http.Server
  readonly #sockets = new Set<Socket>()
  readonly #target: string
  readonly #clock: () => number
  readonly #random: Random

  private constructor(target: string, clock: () => number, random: Random) {
    this.#target = target
    this.#clock = clock
    this.#random = random
    this.#server = Http.createServer((req, res) => void this.#handle(req, res))
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket)
      socket.once("close", () => this.#sockets.delete(socket))
    })
  }

  static async start(target: string, clock: () => number, random: Random): Promise<FaultyUpstream> {
    const upstream = new FaultyUpstream(target, clock, random)
    await new Promise<void>((resolve) => upstream.#server.listen(0, "127.0.0.1", resolve))
    return upstream
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  async #handle(req: Http.IncomingMessage, res: Http.ServerResponse) {
    const chunks: Array<Buffer> = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks)
    const method = (req.method ?? "GET").toUpperCase()
    const path = new URL(req.url ?? "/", "http://upstream.invalid").pathname
    let body: unknown = null
    try {
      body = JSON.parse(raw.toString("utf8"))
    } catch {
      body = null
    }
    const send = isSend(method, path, body)
    const active = this.active
    const fault =
      send && active !== undefined && this.#random.chance(active.probability)
        ? this.#random.pick(active.faults)
        : undefined
    const at = this.#clock()
    const record = (fate: UpstreamSend["fate"], upstreamStatus: number | null) => {
      if (send) this.sends.push({ at, text: textOf(body), fate, upstreamStatus })
      if (fault !== undefined) this.injected.set(fault, (this.injected.get(fault) ?? 0) + 1)
    }
    const graph = (status: number, code: number, headers: Record<string, string> = {}) => {
      record(fault ?? "forwarded", null)
      res.writeHead(status, { "content-type": "application/json", ...headers })
      res.end(JSON.stringify(FakeCloudApi.graphErrorBody(code)))
    }
    switch (fault) {
      case "http-500":
        return graph(500, 131000)
      case "http-503":
        record(fault, null)
        res.writeHead(503, { "content-type": "text/html" })
        res.end("<html><body>503 Service Unavailable</body></html>")
        return
      case "http-429":
        return graph(429, 80007, { "retry-after": "1" })
      case "graph-130429":
        return graph(400, 130429)
      case "graph-131056":
        return graph(400, 131056)
      case "hang":
        record(fault, null)
        return
      case "reset":
        record(fault, null)
        req.socket.destroy()
        return
      default:
        break
    }
    let upstream: Response
    try {
      upstream = await fetch(`${this.#target}${req.url ?? "/"}`, {
        method,
        headers: {
          "content-type": req.headers["content-type"] ?? "application/json",
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {})
        },
        ...(method === "GET" || method === "HEAD" ? {} : { body: raw })
      })
    } catch {
      record(fault ?? "forwarded", null)
      req.socket.destroy()
      return
    }
    const text = await upstream.text()
    record(fault ?? "forwarded", upstream.status)
    if (fault === "accepted-then-reset") {
      req.socket.destroy()
      return
    }
    if (fault === "accepted-then-hang") return
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" })
    res.end(text)
  }
}
