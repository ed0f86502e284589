/**
 * The service's data directory (`PARLEY_DATA_DIR`, default `./.parley`): the embedded database, and the admin token
 * and secret key the service generates once when they are not configured. Files are created with mode 0600.
 */

import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Secrets } from "@parley/postgres"
import { Effect, Redacted } from "effect"

export const files = {
  adminToken: "admin-token",
  secretKey: "secret-key",
  pglite: "pglite"
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
