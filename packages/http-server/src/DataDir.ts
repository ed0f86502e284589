/**
 * The service's data directory (`PARLEY_DATA_DIR`, default `./.parley`): the embedded database, and the admin token
 * and secret key the service generates once when they are not configured. Everything in it is owner-only (0700
 * directories, 0600 files), and one process at a time holds it (the `lock` file names that process).
 */

import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Secrets } from "@parley/postgres"
import { Effect, Redacted, type Scope } from "effect"

export const files = {
  adminToken: "admin-token",
  secretKey: "secret-key",
  pglite: "pglite",
  lock: "lock"
} as const

export class DataDirError {
  readonly _tag = "DataDirError"
  constructor(readonly message: string) {}
}

/** The value in `dir/name`, written from `generate()` the first time. */
export const readOrCreate = (
  dir: string,
  name: string,
  generate: () => string
): Effect.Effect<{ readonly value: Redacted.Redacted<string>; readonly created: boolean }, DataDirError> =>
  Effect.try({
    try: () => {
      Fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const file = Path.join(dir, name)
      try {
        return { value: Redacted.make(Fs.readFileSync(file, "utf8").trim()), created: false }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      }
      const value = generate()
      Fs.writeFileSync(file, `${value}\n`, { mode: 0o600, flag: "wx" })
      return { value: Redacted.make(value), created: true }
    },
    catch: (error) =>
      new DataDirError(`PARLEY_DATA_DIR (${dir}): ${error instanceof Error ? error.message : String(error)}`)
  })

export const generateAdminToken = (): string => randomBytes(24).toString("base64url")

export const adminToken = (dir: string) => readOrCreate(dir, files.adminToken, generateAdminToken)

export const secretKey = (dir: string) => readOrCreate(dir, files.secretKey, Secrets.generateKey)

export const pgliteDir = (dir: string): string => Path.join(dir, files.pglite)

const failure = (dir: string) => (error: unknown) =>
  new DataDirError(`PARLEY_DATA_DIR (${dir}): ${error instanceof Error ? error.message : String(error)}`)

/** Creates the directory (0700) when it is missing. */
export const ensure = (dir: string): Effect.Effect<void, DataDirError> =>
  Effect.try({ try: () => void Fs.mkdirSync(dir, { recursive: true, mode: 0o700 }), catch: failure(dir) })

/**
 * Makes the directory and everything under it owner-only: directories 0700, files 0600 (symbolic links are left
 * alone). PGlite writes its files world-writable (0666) whatever the umask, so this runs on every start, after
 * PGlite has opened, and at stop; between those, the 0700 directory keeps other users out of whatever it adds.
 * Answers how many entries it changed.
 */
export const secure = (dir: string): Effect.Effect<number, DataDirError> =>
  Effect.try({
    try: () => {
      let changed = 0
      const visit = (path: string) => {
        const stat = Fs.lstatSync(path)
        if (stat.isSymbolicLink()) return
        const wanted = stat.isDirectory() ? 0o700 : 0o600
        if ((stat.mode & 0o777) !== wanted) {
          Fs.chmodSync(path, wanted)
          changed++
        }
        if (stat.isDirectory()) for (const entry of Fs.readdirSync(path)) visit(Path.join(path, entry))
      }
      visit(dir)
      return changed
    },
    catch: failure(dir)
  })

/** Another live process holds the data directory. */
export class DataDirInUse {
  readonly _tag = "DataDirInUse"
  constructor(
    readonly dir: string,
    readonly pid: number
  ) {}
  get message() {
    return (
      `PARLEY_DATA_DIR (${this.dir}) is in use by another Parley process (pid ${this.pid}); ` +
      "stop it, or give this one another PARLEY_DATA_DIR"
    )
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readPid = (file: string): number | undefined => {
  try {
    const pid = Number.parseInt(Fs.readFileSync(file, "utf8").trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/**
 * Holds the data directory for this process until the scope closes: `lock` is created exclusively with this
 * process's pid. A lock whose process is gone (killed, crashed) is stale and taken over; a live one fails with
 * `DataDirInUse`. PGlite is a single-process database: two processes on one directory would corrupt it.
 */
export const lock = (dir: string): Effect.Effect<void, DataDirError | DataDirInUse, Scope.Scope> => {
  const file = Path.join(dir, files.lock)
  const acquire = Effect.suspend((): Effect.Effect<void, DataDirError | DataDirInUse> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        Fs.writeFileSync(file, `${process.pid}\n`, { mode: 0o600, flag: "wx" })
        return Effect.void
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") return Effect.fail(failure(dir)(error))
      }
      const holder = readPid(file)
      if (holder !== undefined && isAlive(holder)) return Effect.fail(new DataDirInUse(dir, holder))
      // Stale (or unreadable, half-written by a process that died): removed only if it still says the same.
      if (readPid(file) === holder) Fs.rmSync(file, { force: true })
    }
    return Effect.fail(new DataDirError(`PARLEY_DATA_DIR (${dir}): could not take the lock file ${file}`))
  }).pipe(Effect.catchAllDefect((defect) => Effect.fail(failure(dir)(defect))))
  const release = Effect.sync(() => {
    try {
      if (readPid(file) === process.pid) Fs.rmSync(file, { force: true })
    } catch {
      // Nothing to do: a lock left behind is detected as stale by the next start.
    }
  })
  return Effect.acquireRelease(acquire, () => release)
}
