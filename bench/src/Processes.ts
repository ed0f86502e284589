/**
 * The processes under test, each its own OS process (so /proc shows its own CPU and memory): started with `node`
 * directly (no npm or pnpm in between, whose pid would be the wrong one), ready when a line of its output matches.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

export const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../..")

export interface Running {
  readonly name: string
  readonly pid: number
  /** What the ready line captured (the URL). */
  readonly url: string
  readonly stop: () => Promise<void>
}

/** Node with the workspace's TypeScript source (tsx, `@parley/source`): what the scripts and tests run. */
export const sourceArgs = ["--conditions=@parley/source", "--import", "tsx"] as const

export const start = (options: {
  readonly name: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  /** Its first capture group is the URL. */
  readonly ready: RegExp
  readonly timeoutMs?: number
}): Promise<Running> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [...options.args], {
      cwd: root,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let settled = false
    const fail = (reason: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(new Error(`${options.name}: ${reason}\n${output.slice(-4000)}`))
    }
    const timer = setTimeout(() => fail("not ready in time"), options.timeoutMs ?? 120_000)
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const onData = (chunk: Buffer) => {
      // Keep reading (a full pipe would block the child), but only the start matters.
      if (settled) return
      output += chunk.toString("utf8")
      const match = options.ready.exec(output)
      if (match?.[1] !== undefined && child.pid !== undefined) {
        settled = true
        clearTimeout(timer)
        resolve({
          name: options.name,
          pid: child.pid,
          url: match[1],
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
            const killer = setTimeout(() => child.kill("SIGKILL"), 10_000)
            await exited
            clearTimeout(killer)
          }
        })
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal}) before it was ready`))
    child.once("error", (error) => fail(error.message))
  })
