/**
 * The reference fixtures: read from `../shared/reference/fixtures` beside the repository when it is there (as in CI
 * and on the project machine), else from the committed copies in `test/fixtures`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = Path.resolve(here, "../../../..")
export const sharedDir = Path.resolve(repoRoot, "../shared/reference/fixtures")
export const copiesDir = Path.resolve(here, "../fixtures")
export const fixturesDir = existsSync(sharedDir) ? sharedDir : copiesDir

export const fixtureNames = (): ReadonlyArray<string> =>
  readdirSync(fixturesDir)
    .filter((name) => name.endsWith(".json"))
    .sort()

export const readRaw = (name: string): string => readFileSync(Path.join(fixturesDir, name), "utf8")

export const read = (name: string): unknown => JSON.parse(readRaw(name)) as unknown

/** A fixture as a plain record (fixtures are objects). */
export const readRecord = (name: string): Record<string, unknown> => read(name) as Record<string, unknown>

export interface SignatureFixture {
  readonly verification: {
    readonly request: { readonly query: Readonly<Record<string, string>> }
    readonly configuredVerifyToken: string
    readonly expectedResponse: { readonly status: number; readonly body: string }
  }
  readonly signature: {
    readonly appSecret: string
    readonly rawBody: string
    readonly header: { readonly "X-Hub-Signature-256": string }
  }
}

export const signatureFixture = (): SignatureFixture =>
  read("webhook-verification-and-signature.json") as SignatureFixture

export interface StatusSequenceFixture {
  readonly description: string
  readonly deliveries: ReadonlyArray<{ readonly note: string; readonly body: unknown }>
}

export const statusSequence = (): StatusSequenceFixture => read("webhook-status-sequence.json") as StatusSequenceFixture
