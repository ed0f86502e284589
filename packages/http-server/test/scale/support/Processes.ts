/**
 * Child Node processes for the scale tests: a line-oriented handle on a spawned script (wait for a line, write a
 * line, kill on close), and a fresh migrated PostgreSQL database shared by them.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as Path from "node:path"
import { createInterface } from "node:readline"
import { Secrets } from "@parley/postgres"
import { TestDatabase } from "@parley/postgres/testing"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"

export const packageDir = Path.resolve(import.meta.dirname, "../../..")

export interface Child {
  /** Resolves with the first stdout line that matches. */
  readonly line: (pattern: RegExp) => Promise<string>
  readonly write: (line: string) => void
  readonly stderr: () => string
  readonly stop: () => Promise<void>
}

export const spawnScript = (script: string, env: Readonly<Record<string, string>>): Child => {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ["--conditions=@parley/source", "--import", "tsx", script],
    {
      cwd: packageDir,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"]
    }
  )
  const lines: Array<string> = []
  const waiting: Array<{ readonly pattern: RegExp; readonly resolve: (line: string) => void }> = []
  let errors = ""
  child.stderr.on("data", (chunk: Buffer) => {
    errors += chunk.toString("utf8")
  })
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line)
    for (const w of waiting.splice(0)) {
      if (w.pattern.test(line)) w.resolve(line)
      else waiting.push(w)
    }
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  return {
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => pattern.test(l))
        if (seen !== undefined) return resolve(seen)
        waiting.push({ pattern, resolve })
        void exited.then(() => reject(new Error(`${script} exited before printing ${pattern}: ${errors.trim()}`)))
      }),
    write: (line) => child.stdin.write(`${line}\n`),
    stderr: () => errors,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      await exited
    }
  }
}

export interface SharedDatabase {
  readonly url: string
  readonly secretKey: string
  readonly close: () => Promise<void>
}

/** A fresh, migrated database on the test server; dropped by `close`. */
export const sharedDatabase = async (serverUrl: string): Promise<SharedDatabase> => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(TestDatabase.postgres({ url: serverUrl, maxConnections: 1 }), scope).pipe(
      Logger.withMinimumLogLevel(LogLevel.None)
    )
  )
  return {
    url: Redacted.value(Context.get(context, TestDatabase.FreshDatabase).url),
    secretKey: Secrets.generateKey(),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
