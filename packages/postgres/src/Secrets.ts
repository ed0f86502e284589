/**
 * Secrets at rest (the Meta access tokens of WhatsApp numbers): AES-256-GCM with a key from configuration.
 *
 * A sealed value is `v1.<key id>.<iv>.<ciphertext+tag>` (base64url parts). The key id lets a rotated deployment
 * keep opening values sealed under its previous keys while sealing new ones under the current key. Each value is
 * bound to a context string (additional authenticated data, e.g. the number's business and id), so a ciphertext
 * copied onto another row does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { Config, type ConfigError, Context, Effect, Layer, Redacted, Schema } from "effect"

export class SecretKeyInvalid extends Schema.TaggedError<SecretKeyInvalid>()("SecretKeyInvalid", {
  reason: Schema.String
}) {
  override get message() {
    return `the secret key is not usable: ${this.reason}`
  }
}

export class SecretDecryptionFailed extends Schema.TaggedError<SecretDecryptionFailed>()("SecretDecryptionFailed", {
  reason: Schema.String
}) {
  override get message() {
    return `a stored secret could not be decrypted: ${this.reason}`
  }
}

export class Secrets extends Context.Tag("@parley/postgres/Secrets")<
  Secrets,
  {
    /** Encrypts `plaintext` under the current key, bound to `context`. */
    readonly seal: (plaintext: Redacted.Redacted<string>, context: string) => Effect.Effect<string>
    /** Decrypts a sealed value; fails when the key, the context or the bytes do not match. */
    readonly open: (sealed: string, context: string) => Effect.Effect<Redacted.Redacted<string>, SecretDecryptionFailed>
    /** Whether a sealed value was sealed under the current key (else it needs re-sealing before a retired key goes). */
    readonly isCurrent: (sealed: string) => boolean
  }
>() {}

const version = "v1"
const ivBytes = 12

/** A fresh random key in the form `layer` accepts (base64 of 32 bytes). */
export const generateKey = (): string => randomBytes(32).toString("base64")

/** Accepts 32 bytes as base64 (44 characters), base64url (43) or hex (64). */
const parseKey = (key: Redacted.Redacted<string>): Buffer | SecretKeyInvalid => {
  const text = Redacted.value(key).trim()
  const bytes = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, "hex")
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(text)
      ? Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64")
      : undefined
  return bytes?.length === 32 ? bytes : new SecretKeyInvalid({ reason: "expected 32 bytes as base64 or hex" })
}

const keyIdOf = (key: Buffer) => createHash("sha256").update(key).digest("base64url").slice(0, 8)

export interface SecretsOptions {
  /** Keys that sealed older values; they open, they never seal. */
  readonly previousKeys?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}

export const make = (
  key: Redacted.Redacted<string>,
  options: SecretsOptions = {}
): Effect.Effect<Secrets["Type"], SecretKeyInvalid> =>
  Effect.gen(function* () {
    const keys = new Map<string, Buffer>()
    const current = parseKey(key)
    if (current instanceof SecretKeyInvalid) return yield* current
    const currentId = keyIdOf(current)
    for (const previous of options.previousKeys ?? []) {
      const parsed = parseKey(previous)
      if (parsed instanceof SecretKeyInvalid) return yield* parsed
      keys.set(keyIdOf(parsed), parsed)
    }
    keys.set(currentId, current)

    const seal = (plaintext: Redacted.Redacted<string>, context: string) =>
      Effect.sync(() => {
        const iv = randomBytes(ivBytes)
        const cipher = createCipheriv("aes-256-gcm", current, iv)
        cipher.setAAD(Buffer.from(context, "utf8"))
        const body = Buffer.concat([
          cipher.update(Redacted.value(plaintext), "utf8"),
          cipher.final(),
          cipher.getAuthTag()
        ])
        return [version, currentId, iv.toString("base64url"), body.toString("base64url")].join(".")
      })

    const open = (sealed: string, context: string) =>
      Effect.suspend(() => {
        const [v, keyId, iv, body] = sealed.split(".")
        if (v !== version || keyId === undefined || iv === undefined || body === undefined) {
          return Effect.fail(new SecretDecryptionFailed({ reason: "not a sealed value" }))
        }
        const secretKey = keys.get(keyId)
        if (secretKey === undefined) {
          return Effect.fail(new SecretDecryptionFailed({ reason: `sealed under an unknown key (${keyId})` }))
        }
        return Effect.try({
          try: () => {
            const bytes = Buffer.from(body, "base64url")
            const decipher = createDecipheriv("aes-256-gcm", secretKey, Buffer.from(iv, "base64url"))
            decipher.setAAD(Buffer.from(context, "utf8"))
            decipher.setAuthTag(bytes.subarray(bytes.length - 16))
            const plain = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()])
            return Redacted.make(plain.toString("utf8"))
          },
          catch: () => new SecretDecryptionFailed({ reason: "authentication failed (wrong key, context or data)" })
        })
      })

    const isCurrent = (sealed: string) => sealed.split(".")[1] === currentId

    return { seal, open, isCurrent }
  })

export const layer = (
  key: Redacted.Redacted<string>,
  options: SecretsOptions = {}
): Layer.Layer<Secrets, SecretKeyInvalid> => Layer.effect(Secrets, make(key, options))

/** Reads the key from `PARLEY_SECRET_KEY` (and retired keys from `PARLEY_PREVIOUS_SECRET_KEYS`, comma-separated). */
export const layerConfig = (
  key: Config.Config<Redacted.Redacted<string>> = Config.redacted("PARLEY_SECRET_KEY"),
  previousKeys: Config.Config<ReadonlyArray<Redacted.Redacted<string>>> = Config.array(
    Config.redacted(),
    "PARLEY_PREVIOUS_SECRET_KEYS"
  ).pipe(Config.withDefault([]))
): Layer.Layer<Secrets, SecretKeyInvalid | ConfigError.ConfigError> =>
  Layer.effect(
    Secrets,
    Effect.flatMap(Config.all({ key, previousKeys }), (config) =>
      make(config.key, { previousKeys: config.previousKeys })
    )
  )

/**
 * The zero-setup key for an embedded installation: read from `path`, or generated and written there (mode 0600)
 * on first start. Whoever can read the file can read the tokens, so keep it beside the data, not in a repository.
 */
export const layerKeyFile = (path: string): Layer.Layer<Secrets, SecretKeyInvalid> =>
  Layer.effect(
    Secrets,
    Effect.tryPromise({
      try: async () => {
        const existing = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return undefined
          throw error
        })
        if (existing !== undefined) return existing.trim()
        const key = generateKey()
        await mkdir(dirname(path), { recursive: true })
        // "wx": never overwrite a key another process wrote meanwhile.
        await writeFile(path, `${key}\n`, { mode: 0o600, flag: "wx" }).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== "EEXIST") throw error
        })
        return (await readFile(path, "utf8")).trim()
      },
      catch: (cause) => new SecretKeyInvalid({ reason: `cannot read or create the key file: ${String(cause)}` })
    }).pipe(Effect.flatMap((key) => make(Redacted.make(key))))
  )
