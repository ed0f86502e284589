/**
 * The standalone service (`src/main.ts`) and the CLI (`src/cli.ts`) as child processes, for tests about the process
 * itself: what it prints, its exit code, its data directory, its port from the first moment it is open.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Path from "node:path"

const packageDir = Path.resolve(import.meta.dirname, "../..")

export interface ServiceProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything written to stdout and stderr so far. */
  readonly output: () => string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when the output matches (rejects when the process exits first or the time runs out). */
  readonly waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>
  /** The exit code (or the signal's name). */
  readonly exited: Promise<number | string>
  /** SIGTERM, then the exit code. */
  readonly stop: () => Promise<number | string>
}

/** Starts `src/main.ts` with the given variables added to the environment (and none of the parent's `PARLEY_*`). */
export const startService = (env: Readonly<Record<string, string>>): ServiceProcess => {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith("PARLEY_") && !name.startsWith("WHATSAPP_") && name !== "DATABASE_URL"
    )
  )
  const child = spawn(process.execPath, ["--conditions=@parley/source", "--import", "tsx", "src/main.ts"], {
    cwd: packageDir,
    env: { ...base, PARLEY_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const listeners = new Set<() => void>()
  const changed = () => {
    for (const listener of listeners) listener()
  }
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk
    changed()
  })
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk
    changed()
  })
  let exitCode: number | string | undefined
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code ?? signal ?? "unknown"
      changed()
      resolve(exitCode)
    })
  )
  const output = () => stdout + stderr
  const waitFor = (pattern: RegExp, timeoutMs = 90_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output())) return done(undefined)
        if (exitCode !== undefined) return done(new Error(`exited (${exitCode}) before ${pattern}: ${output()}`))
      }
      const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms: ${output()}`)), timeoutMs)
      const done = (error: Error | undefined) => {
        clearTimeout(timer)
        listeners.delete(check)
        if (error === undefined) resolve()
        else reject(error)
      }
      listeners.add(check)
      check()
    })
  const stop = async () => {
    if (exitCode === undefined) child.kill("SIGTERM")
    return exited
  }
  if (child.pid === undefined) throw new Error("the service did not spawn")
  return { child, pid: child.pid, output, stdout: () => stdout, stderr: () => stderr, waitFor, exited, stop }
}

/** Runs the CLI to completion. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Promise<{ readonly code: number; readonly stdout: string; readonly stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@parley/source", "--import", "tsx", "src/cli.ts", ...args],
      { cwd: packageDir, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })

/** A loopback port nobody listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Whether something accepts TCP connections on the loopback port. */
export const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** A GET on a new connection (no pooling, nothing lazily loaded on the first call): status, body and milliseconds. */
export const timedGet = (
  url: string
): Promise<{
  readonly status: number
  readonly body: string
  readonly retryAfter: string | null
  readonly ms: number
}> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const request = Http.get(url, { agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        body += chunk
      })
      response.on("end", () => {
        const retryAfter = response.headers["retry-after"]
        resolve({
          status: response.statusCode ?? 0,
          body,
          retryAfter: typeof retryAfter === "string" ? retryAfter : null,
          ms: performance.now() - t0
        })
      })
    })
    request.on("error", reject)
  })
