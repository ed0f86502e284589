/**
 * The Parley processes under test: each slot is one standalone service (`main.ts`) on its own fixed loopback port,
 * all on one PostgreSQL database. The nemesis kills a slot with SIGKILL and starts it again on the same port; any
 * other exit is recorded as an exit "by itself" (and the slot is started again, so the run goes on).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

/** The repository's root, where `pnpm start` runs. */
export const repoRoot = Path.resolve(import.meta.dirname, "../../../..")

/**
 * How one Parley process is started: the same command as `pnpm start`. Change it here, and only here, when the
 * service starts differently (e.g. from built JavaScript).
 */
export const spawnParley = (env: Readonly<Record<string, string>>, log: Fs.WriteStream): ChildProcess => {
  const child = spawn(
    process.execPath,
    ["--conditions=@parley/source", "--import", "tsx", "packages/http-server/src/main.ts"],
    {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    }
  )
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  return child
}

/** A free loopback port (the OS picks it; it is released again at once for the process to take). */
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

export interface Exit {
  readonly slot: number
  /** Milliseconds since the run started. */
  readonly at: number
  readonly code: number | null
  readonly signal: string | null
  /** Whether it had answered /ready since it was started (else it died while starting). */
  readonly wasReady: boolean
  readonly logTail: string
}

interface Slot {
  readonly index: number
  readonly port: number
  readonly log: Fs.WriteStream
  readonly logPath: string
  child: ChildProcess | undefined
  /** SIGKILL sent by the nemesis (or SIGTERM at the end): the exit that follows is expected. */
  expectingExit: boolean
  ready: boolean
  exited: Promise<void>
}

export interface PoolOptions {
  readonly count: number
  readonly env: Readonly<Record<string, string>>
  readonly logDir: string
  /** Milliseconds since the run started. */
  readonly clock: () => number
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const tail = (path: string, bytes = 2000): string => {
  try {
    const text = Fs.readFileSync(path, "utf8")
    return text.slice(-bytes)
  } catch {
    return ""
  }
}

export class Pool {
  readonly #options: PoolOptions
  readonly #slots: Array<Slot> = []
  readonly exits: Array<Exit> = []
  #stopping = false

  private constructor(options: PoolOptions) {
    this.#options = options
  }

  static async create(options: PoolOptions): Promise<Pool> {
    const pool = new Pool(options)
    // Should the test runner give up on the run (a timeout), no process outlives it.
    process.once("exit", () => {
      for (const slot of pool.#slots) slot.child?.kill("SIGKILL")
    })
    Fs.mkdirSync(options.logDir, { recursive: true })
    for (let index = 0; index < options.count; index++) {
      const logPath = Path.join(options.logDir, `parley-${index}.log`)
      pool.#slots.push({
        index,
        port: await freePort(),
        log: Fs.createWriteStream(logPath, { flags: "a" }),
        logPath,
        child: undefined,
        expectingExit: false,
        ready: false,
        exited: Promise.resolve()
      })
    }
    return pool
  }

  get size(): number {
    return this.#slots.length
  }

  url(slot: number): string {
    return `http://127.0.0.1:${this.#slot(slot).port}`
  }

  isUp(slot: number): boolean {
    const s = this.#slot(slot)
    return s.child !== undefined && s.ready
  }

  upCount(): number {
    return this.#slots.filter((s) => s.child !== undefined).length
  }

  logPath(slot: number): string {
    return this.#slot(slot).logPath
  }

  #slot(index: number): Slot {
    const slot = this.#slots[index]
    if (slot === undefined) throw new Error(`no slot ${index}`)
    return slot
  }

  /** Starts the slot's process and resolves once it answers `/ready` (or rejects after `timeoutMillis`). */
  async start(index: number, timeoutMillis = 120_000): Promise<void> {
    const slot = this.#slot(index)
    if (slot.child !== undefined) return
    slot.log.write(`\n--- start at ${this.#options.clock()} ms ---\n`)
    const child = spawnParley({ ...this.#options.env, PORT: String(slot.port) }, slot.log)
    slot.child = child
    slot.ready = false
    slot.expectingExit = false
    slot.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (slot.child === child) slot.child = undefined
        const expected = slot.expectingExit || this.#stopping
        if (!expected) {
          this.exits.push({
            slot: index,
            at: this.#options.clock(),
            code,
            signal,
            wasReady: slot.ready,
            logTail: tail(slot.logPath)
          })
        }
        slot.ready = false
        resolve()
        // A process that exited by itself is started again, so the load goes on (the exit is already recorded).
        if (!expected) setTimeout(() => void this.start(index).catch(() => undefined), 1_000)
      })
    })
    const deadline = Date.now() + timeoutMillis
    while (Date.now() < deadline) {
      if (slot.child !== child) throw new Error(`parley ${index} exited while starting; see ${slot.logPath}`)
      const ok = await fetch(`${this.url(index)}/ready`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.status === 200,
        () => false
      )
      if (ok) {
        slot.ready = true
        return
      }
      await sleep(200)
    }
    throw new Error(`parley ${index} did not become ready within ${timeoutMillis} ms; see ${slot.logPath}`)
  }

  /** kill -9, and waits until the process is gone. */
  async kill(index: number): Promise<void> {
    const slot = this.#slot(index)
    const child = slot.child
    if (child === undefined) return
    slot.expectingExit = true
    slot.ready = false
    child.kill("SIGKILL")
    await slot.exited
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMillis`) and closes the logs. */
  async stopAll(graceMillis = 10_000): Promise<void> {
    this.#stopping = true
    await Promise.all(
      this.#slots.map(async (slot) => {
        const child = slot.child
        if (child !== undefined) {
          slot.expectingExit = true
          child.kill("SIGTERM")
          const timer = setTimeout(() => child.kill("SIGKILL"), graceMillis)
          await slot.exited
          clearTimeout(timer)
        }
      })
    )
    await Promise.all(this.#slots.map((slot) => new Promise<void>((resolve) => slot.log.end(() => resolve()))))
  }
}
