/**
 * Secrets at rest: AES-256-GCM sealing of access tokens.
 */

import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import * as Secrets from "../src/Secrets.js"

const token = Redacted.make("EAAG-meta-system-user-token-0123456789")
const context = "whatsapp_numbers:b:n"

const secretsWith = (key: string, previousKeys: ReadonlyArray<string> = []) =>
  Secrets.make(Redacted.make(key), { previousKeys: previousKeys.map((k) => Redacted.make(k)) }).pipe(Effect.orDie)

describe("Secrets", () => {
  it.effect("a sealed token is not its plaintext, and opens back to it", () =>
    Effect.gen(function* () {
      const secrets = yield* secretsWith(Secrets.generateKey())
      const sealed = yield* secrets.seal(token, context)
      assert.notInclude(sealed, Redacted.value(token))
      assert.notInclude(sealed, Buffer.from(Redacted.value(token)).toString("base64"))
      assert.match(sealed, /^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
      assert.strictEqual(Redacted.value(yield* secrets.open(sealed, context)), Redacted.value(token))
    })
  )

  it.effect("sealing twice gives different ciphertexts (a fresh IV each time)", () =>
    Effect.gen(function* () {
      const secrets = yield* secretsWith(Secrets.generateKey())
      assert.notStrictEqual(yield* secrets.seal(token, context), yield* secrets.seal(token, context))
    })
  )

  it.effect("the wrong key does not open it", () =>
    Effect.gen(function* () {
      const sealed = yield* (yield* secretsWith(Secrets.generateKey())).seal(token, context)
      const error = yield* Effect.flip((yield* secretsWith(Secrets.generateKey())).open(sealed, context))
      assert.strictEqual(error._tag, "SecretDecryptionFailed")
    })
  )

  it.effect("a tampered ciphertext fails authentication", () =>
    Effect.gen(function* () {
      const secrets = yield* secretsWith(Secrets.generateKey())
      const sealed = yield* secrets.seal(token, context)
      const parts = sealed.split(".")
      const body = Buffer.from(parts[3] ?? "", "base64url")
      body[0] = (body[0] ?? 0) ^ 1
      const tampered = [parts[0], parts[1], parts[2], body.toString("base64url")].join(".")
      const error = yield* Effect.flip(secrets.open(tampered, context))
      assert.strictEqual(error.reason, "authentication failed (wrong key, context or data)")
    })
  )

  it.effect("a ciphertext moved to another row (another context) does not open", () =>
    Effect.gen(function* () {
      const secrets = yield* secretsWith(Secrets.generateKey())
      const sealed = yield* secrets.seal(token, context)
      const error = yield* Effect.flip(secrets.open(sealed, "whatsapp_numbers:b:other"))
      assert.strictEqual(error._tag, "SecretDecryptionFailed")
    })
  )

  it.effect("after a rotation, values sealed under a previous key still open; new ones use the new key", () =>
    Effect.gen(function* () {
      const oldKey = Secrets.generateKey()
      const sealedBefore = yield* (yield* secretsWith(oldKey)).seal(token, context)
      const rotated = yield* secretsWith(Secrets.generateKey(), [oldKey])
      assert.strictEqual(Redacted.value(yield* rotated.open(sealedBefore, context)), Redacted.value(token))
      const sealedAfter = yield* rotated.seal(token, context)
      assert.notStrictEqual(sealedAfter.split(".")[1], sealedBefore.split(".")[1])
    })
  )

  it.effect("keys are 32 bytes as base64 or hex; anything else is refused", () =>
    Effect.gen(function* () {
      const hex = Buffer.alloc(32, 7).toString("hex")
      assert.isTrue(Either.isRight(yield* Effect.either(Secrets.make(Redacted.make(hex)))))
      for (const bad of ["", "short", Buffer.alloc(16).toString("base64"), Buffer.alloc(31).toString("hex")]) {
        const result = yield* Effect.either(Secrets.make(Redacted.make(bad)))
        assert.isTrue(Either.isLeft(result) && result.left._tag === "SecretKeyInvalid")
      }
    })
  )

  it.effect("layerKeyFile creates a private key file once and reuses it", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "parley-key-")))
      const path = join(dir, "nested", "secret.key")
      const sealed = yield* Effect.flatMap(Secrets.Secrets, (s) => s.seal(token, context)).pipe(
        Effect.provide(Secrets.layerKeyFile(path))
      )
      const mode = (yield* Effect.promise(() => stat(path))).mode & 0o777
      const key = yield* Effect.promise(() => readFile(path, "utf8"))
      const reopened = yield* Effect.flatMap(Secrets.Secrets, (s) => s.open(sealed, context)).pipe(
        Effect.provide(Secrets.layerKeyFile(path))
      )
      yield* Effect.promise(() => rm(dir, { recursive: true, force: true }))
      assert.strictEqual(mode, 0o600)
      assert.strictEqual(key.trim().length, 44)
      assert.strictEqual(Redacted.value(reopened), Redacted.value(token))
    })
  )
})
