/**
 * One slice of load: autocannon against one server for a while (or a number of requests), with that server's CPU
 * time read from /proc before and after and its resident memory sampled throughout. Latencies are kept per request,
 * so slices of the same side add up to one distribution.
 */
import autocannon from "autocannon"
import { cpuMillis, postgresCpuMillis, sampleRss, settle } from "./Proc.js"

export interface Request {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

export interface SliceOptions {
  readonly url: string
  readonly pid: number
  readonly connections: number
  /** Seconds; ignored when `amount` is set. */
  readonly duration: number
  readonly amount?: number
  readonly headers: Readonly<Record<string, string>>
  /** The i-th request of the slice (i counts from 0 across connections). */
  readonly request: (i: number) => Request
}

export interface Slice {
  readonly ok: number
  readonly non2xx: number
  readonly errors: number
  readonly seconds: number
  readonly latencies: ReadonlyArray<number>
  readonly cpuMs: number
  /** CPU time of the local PostgreSQL processes over the slice (ms), when PostgreSQL runs on this machine. */
  readonly databaseCpuMs: number | undefined
  readonly rssMaxMb: number
  readonly startedAt: number
  /** The server's CPU time (ms) when the slice began: a later reading gives the cost of work after the answers. */
  readonly cpuBefore: number
  /** A few refused answers, to say why. */
  readonly sampleFailures: ReadonlyArray<string>
}

/** Runs a slice once the server is idle, so it is charged for its own requests only. */
export const slice = async (options: SliceOptions): Promise<Slice> => {
  await settle(options.pid)
  return load(options)
}

const load = (options: SliceOptions): Promise<Slice> =>
  new Promise((resolve, reject) => {
    let i = 0
    const latencies: Array<number> = []
    const sampleFailures: Array<string> = []
    const rss = sampleRss(options.pid)
    const cpuBefore = cpuMillis(options.pid)
    const databaseBefore = postgresCpuMillis()
    const startedAt = performance.now()
    let lastResponseAt = startedAt
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        ...(options.amount === undefined ? { duration: options.duration } : { amount: options.amount }),
        headers: { ...options.headers },
        timeout: 60,
        requests: [
          {
            setupRequest: (request) => {
              const next = options.request(i++)
              request.method = next.method
              request.path = next.path
              request.headers = { ...request.headers, ...next.headers }
              if (next.body !== undefined) request.body = next.body
              return request
            },
            onResponse: (status, body) => {
              if ((status < 200 || status > 299) && sampleFailures.length < 3) {
                sampleFailures.push(`${status} ${body.slice(0, 300)}`)
              }
            }
          }
        ]
      },
      (error: unknown, result) => {
        const cpuMs = cpuMillis(options.pid) - cpuBefore
        const databaseAfter = postgresCpuMillis()
        const rssMaxMb = rss.stop()
        if (error) return reject(error)
        resolve({
          ok: result["2xx"],
          non2xx: result.non2xx,
          errors: result.errors,
          // A slice of `amount` requests ends with its last answer: autocannon reports only at its next one-second
          // sample, which would count up to a second of idle time as the slice's.
          seconds: ((options.amount === undefined ? performance.now() : lastResponseAt) - startedAt) / 1000,
          latencies,
          cpuMs,
          databaseCpuMs:
            databaseBefore === undefined || databaseAfter === undefined ? undefined : databaseAfter - databaseBefore,
          rssMaxMb,
          startedAt,
          cpuBefore,
          sampleFailures
        })
      }
    )
    instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime)
      lastResponseAt = performance.now()
    })
  })

/** Several slices of one side, as one measurement. */
export interface Measurement {
  readonly ok: number
  readonly failed: number
  readonly seconds: number
  readonly requestsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly cpuMsPerRequest: number
  /** PostgreSQL's CPU ms per request (every local PostgreSQL process), when known. */
  readonly databaseCpuMsPerRequest: number
  readonly rssMaxMb: number
  readonly sampleFailures: ReadonlyArray<string>
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0)

export const combine = (slices: ReadonlyArray<Slice>): Measurement => {
  const ok = slices.reduce((n, s) => n + s.ok, 0)
  const failed = slices.reduce((n, s) => n + s.non2xx + s.errors, 0)
  const seconds = slices.reduce((n, s) => n + s.seconds, 0)
  const cpuMs = slices.reduce((n, s) => n + s.cpuMs, 0)
  const databaseCpuMs = slices.every((s) => s.databaseCpuMs !== undefined)
    ? slices.reduce((n, s) => n + (s.databaseCpuMs ?? 0), 0)
    : Number.NaN
  const sorted = slices.flatMap((s) => s.latencies).sort((a, b) => a - b)
  return {
    ok,
    failed,
    seconds,
    requestsPerSecond: seconds > 0 ? ok / seconds : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuMsPerRequest: ok + failed > 0 ? cpuMs / (ok + failed) : Number.NaN,
    databaseCpuMsPerRequest: ok + failed > 0 ? databaseCpuMs / (ok + failed) : Number.NaN,
    rssMaxMb: Math.max(0, ...slices.map((s) => s.rssMaxMb)),
    sampleFailures: slices.flatMap((s) => s.sampleFailures).slice(0, 3)
  }
}
