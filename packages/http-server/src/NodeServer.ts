/**
 * The Node `http.Server` under the API, with the two behaviours HttpApi does not give by itself:
 * - while the service is starting (migrations, connections), a request gets 503 + `Retry-After` at once instead of
 *   hanging until the handler attaches (except `GET /health`, which answers 200: the process is alive); the same
 *   after shutdown has begun;
 * - graceful shutdown: stop accepting connections, let in-flight requests finish (bounded), then tear down.
 */
import * as Http from "node:http"
import type { Duplex } from "node:stream"
import { Duration, Effect } from "effect"

export interface ServerHandle {
  /** Creates the server (`NodeHttpServer.layer` calls it once). */
  readonly create: () => Http.Server
  /** The server, once created. */
  readonly server: () => Http.Server | undefined
  /** Requests being answered right now. */
  readonly inFlight: () => number
  /** Stops accepting connections and waits (at most `timeout`) for in-flight requests to finish. */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<void>
}

const unavailable = (code: string, message: string) =>
  JSON.stringify({ message, error: { code, details: { retryAfterSeconds: 1 } } })

const answer503 = (body: string) => (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
  response.writeHead(503, {
    "content-type": "application/json",
    "retry-after": "1",
    "content-length": Buffer.byteLength(body)
  })
  response.end(body)
}

const alive = JSON.stringify({ status: "ok" })

/** `GET /health` answers at once from the moment the port is open, even while the service starts. */
const aliveOr =
  (otherwise: (request: Http.IncomingMessage, response: Http.ServerResponse) => void) =>
  (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    if (request.method !== "GET" || (request.url !== "/health" && !request.url?.startsWith("/health?"))) {
      return otherwise(request, response)
    }
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(alive) })
    response.end(alive)
  }

/**
 * The platform destroys a request stream that exceeds the body limit, which resets the connection before the 413
 * is written (a chunked upload then sees ECONNRESET instead of an answer). Such a destroy (no error, answer not
 * sent yet) only stops reading here; Node discards the rest of the body once the answer is sent.
 */
const keepSocketForAnswer = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
  const destroy = request.destroy.bind(request)
  request.destroy = (error?: Error) => {
    if (error !== undefined || response.writableEnded || request.socket.destroyed) return destroy(error)
    request.removeAllListeners("data")
    request.pause()
    response.once("finish", () => request.resume())
    return request
  }
}

/**
 * Node refuses some requests before any handler sees them (headers over its limit, bytes that are not HTTP, a
 * request too slow to arrive) and by default answers them with an empty body. These answers carry the API's error
 * body too, so a client parses every refusal the same way.
 */
const refusals: Readonly<Record<string, readonly [number, string, string, string]>> = {
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "the request headers are too large"
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "request_timeout", "the request did not arrive in time"]
}

const answerClientError = (error: Error & { readonly code?: string }, socket: Duplex) => {
  // Node's own rule: answer only while nothing has been written on this connection yet.
  const message: unknown = Reflect.get(socket, "_httpMessage")
  const started = typeof message === "object" && message !== null && Reflect.get(message, "_header") != null
  if (error.code === "ECONNRESET" || !socket.writable || started) return socket.destroy()
  const [status, reason, code, text] = refusals[error.code ?? ""] ?? [
    400,
    "Bad Request",
    "malformed_request",
    "the request is not valid HTTP"
  ]
  const body = JSON.stringify({ message: text, error: { code } })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`
  )
}

export const makeHandle = (): ServerHandle => {
  let server: Http.Server | undefined
  let inFlight = 0
  const idle = new Set<() => void>()

  const create = () => {
    const s = Http.createServer()
    server = s
    s.on("clientError", answerClientError)
    // Counted before any other listener, so every request is seen.
    s.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      inFlight++
      response.once("close", () => {
        inFlight--
        if (inFlight === 0) for (const resolve of idle) resolve()
      })
      keepSocketForAnswer(request, response)
    })
    const counter = s.listeners("request")[0]
    const starting = aliveOr(answer503(unavailable("starting", "the service is starting; retry shortly")))
    const stopping = answer503(unavailable("stopping", "the service is shutting down; retry shortly"))
    s.on("request", starting)
    let attached: ((...args: Array<unknown>) => void) | undefined
    s.on("newListener", (event: string | symbol, listener: (...args: Array<unknown>) => void) => {
      if (event !== "request" || listener === counter || listener === starting || listener === stopping) return
      attached = listener
      s.off("request", starting)
      s.off("request", stopping)
    })
    s.on("removeListener", (event: string | symbol, listener: (...args: Array<unknown>) => void) => {
      if (event === "request" && listener === attached) {
        attached = undefined
        s.on("request", stopping)
      }
    })
    return s
  }

  const drain = (timeout: Duration.DurationInput) =>
    Effect.async<void>((resume) => {
      const s = server
      if (s === undefined) return resume(Effect.void)
      if (s.listening) s.close()
      s.closeIdleConnections()
      if (inFlight === 0) return resume(Effect.void)
      const done = () => {
        idle.delete(done)
        resume(Effect.void)
      }
      idle.add(done)
      return Effect.sync(() => idle.delete(done))
    }).pipe(Effect.timeout(timeout), Effect.ignore)

  return { create, server: () => server, inFlight: () => inFlight, drain }
}

export const shutdownGrace = Duration.seconds(10)
