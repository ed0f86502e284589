/**
 * The service's configuration, from environment variables. Every problem is reported as one line naming the
 * variable (`PORT must be an integer from 0 to 65535, got "abc"`), and the service does not start.
 */
import { Either, LogLevel, Option, Redacted } from "effect"

export type Database =
  | { readonly _tag: "Embedded" }
  | {
      readonly _tag: "Postgres"
      readonly url: Redacted.Redacted<string>
      readonly poolSize: number
      /** Named prepared statements for the hot statements (`DATABASE_PREPARED_STATEMENTS`, default true). */
      readonly prepare: boolean
    }

export interface ServiceConfig {
  readonly port: number
  readonly host: string
  readonly database: Database
  /** `PARLEY_DATA_DIR`: the embedded database, and the generated admin token and secret key. */
  readonly dataDir: string
  /** `PARLEY_MEDIA_DIR`: where downloaded media files are kept, so they outlive WhatsApp's retention; unset: none. */
  readonly mediaDir: Option.Option<string>
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  readonly secretKey: Option.Option<Redacted.Redacted<string>>
  /** `PARLEY_PREVIOUS_SECRET_KEYS`: retired keys that still open stored tokens until they are re-sealed. */
  readonly previousSecretKeys: ReadonlyArray<Redacted.Redacted<string>>
  readonly whatsapp: {
    readonly apiUrl: string
    readonly apiVersion: string
    readonly appSecret: Option.Option<Redacted.Redacted<string>>
    readonly verifyToken: Option.Option<Redacted.Redacted<string>>
  }
  /**
   * `PARLEY_PUBLIC_URL`: the URL the world reaches this service at (scheme, host, optional path prefix), as a
   * proxy in front of it publishes it. Twilio signs its webhooks over the URL it called, which a TLS-terminating
   * proxy hides from the server, and status callbacks are addressed to it. Unset: Twilio numbers cannot receive.
   */
  readonly publicUrl: Option.Option<string>
  /**
   * `TWILIO_API_URL`, `TWILIO_CONTENT_URL`, `TWILIO_MESSAGING_URL`: Twilio's REST, Content and Messaging (typing
   * indicator) APIs, or the fake Twilio API for all three.
   */
  readonly twilio: { readonly apiUrl: string; readonly contentUrl: string; readonly messagingUrl: string }
  readonly rateLimitPerMinute: number
  /** `PARLEY_UNCONFIRMED_SEND_TIMEOUT`: seconds a send whose outcome is unknown stays `pending` before it fails. */
  readonly unconfirmedSendTimeoutSeconds: number
  /** Failed authentications per minute per client address before 429; 0 turns the limit off. */
  readonly authFailuresPerMinute: number
  /** `PARLEY_EVENT_RETENTION`: how long the event feed keeps events, in seconds (`7d`, `48h`, `90m`, `3600s`). */
  readonly eventRetentionSeconds: number
  readonly logLevel: LogLevel.LogLevel
  /** `GET /metrics`: `PARLEY_METRICS_TOKEN` (a bearer token) or `PARLEY_METRICS_PUBLIC=true`; off otherwise. */
  readonly metrics: { readonly token?: Redacted.Redacted<string> | undefined; readonly public: boolean }
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: traces are exported over OTLP/HTTP when set, not recorded otherwise. */
  readonly otlpEndpoint: Option.Option<string>
  /**
   * Outbound webhooks may target private, loopback or link-local addresses (`PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS`)
   * or plain http (`PARLEY_WEBHOOK_ALLOW_HTTP`); both off by default.
   */
  readonly outboundWebhooks: { readonly allowPrivateTargets: boolean; readonly allowHttp: boolean }
}

export class ConfigInvalid {
  readonly _tag = "ConfigInvalid"
  constructor(
    readonly variable: string,
    readonly reason: string
  ) {}
  get message() {
    return `${this.variable} ${this.reason}`
  }
}

export const defaults = {
  port: 3000,
  host: "127.0.0.1",
  dataDir: "./.parley",
  apiUrl: "https://graph.facebook.com",
  apiVersion: "v24.0",
  twilioApiUrl: "https://api.twilio.com",
  twilioContentUrl: "https://content.twilio.com",
  twilioMessagingUrl: "https://messaging.twilio.com",
  poolSize: 10,
  rateLimitPerMinute: 1200,
  unconfirmedSendTimeoutSeconds: 900,
  authFailuresPerMinute: 20,
  eventRetentionSeconds: 7 * 86_400
} as const

const durationUnits: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** `7d`, `48h`, `90m`, `3600s` or plain seconds; from one hour to 90 days. */
const retention = (env: Env, variable: string, fallback: number): Either.Either<number, ConfigInvalid> => {
  const raw = set(env, variable)
  if (raw === undefined) return Either.right(fallback)
  const match = /^(\d{1,9})\s*([smhd]?)$/.exec(raw.trim())
  const seconds = match === null ? Number.NaN : Number(match[1]) * (durationUnits[match[2] || "s"] ?? 1)
  return Number.isFinite(seconds) && seconds >= 3600 && seconds <= 90 * 86_400
    ? Either.right(seconds)
    : Either.left(
        new ConfigInvalid(variable, `must be a duration from 1h to 90d such as 7d or 48h, got ${JSON.stringify(raw)}`)
      )
}

type Env = Readonly<Record<string, string | undefined>>

const set = (env: Env, name: string) => {
  const value = env[name]
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

const integer = (env: Env, name: string, fallback: number, min: number, max: number) => {
  const raw = set(env, name)
  if (raw === undefined) return Either.right(fallback)
  const n = Number(raw)
  return /^\d+$/.test(raw) && n >= min && n <= max
    ? Either.right(n)
    : Either.left(new ConfigInvalid(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`))
}

const secret = (env: Env, name: string, check?: (value: string) => string | undefined) => {
  const raw = set(env, name)
  if (raw === undefined) return Either.right(Option.none<Redacted.Redacted<string>>())
  const problem = check?.(raw)
  return problem === undefined
    ? Either.right(Option.some(Redacted.make(raw)))
    : Either.left(new ConfigInvalid(name, problem))
}

/** 32 bytes as base64 (44 characters), base64url (43) or hex (64), like `Secrets` accepts. */
export const isSecretKey = (value: string): boolean => {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return true
  return (
    /^[A-Za-z0-9+/_-]{43}=?$/.test(value) &&
    Buffer.from(value.replace(/-/g, "+").replace(/_/g, "/"), "base64").length === 32
  )
}

const logLevels: Readonly<Record<string, LogLevel.LogLevel>> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

/** A boolean setting: true/false/1/0, `fallback` (false) when unset. */
const flag = (env: Env, name: string, fallback = false): Either.Either<boolean, ConfigInvalid> => {
  const value = (set(env, name) ?? String(fallback)).toLowerCase()
  return ["true", "false", "1", "0"].includes(value)
    ? Either.right(value === "true" || value === "1")
    : Either.left(new ConfigInvalid(name, `must be true or false, got ${JSON.stringify(value)}`))
}

export const fromEnv = (env: Env): Either.Either<ServiceConfig, ConfigInvalid> =>
  Either.gen(function* () {
    const port = yield* integer(env, "PORT", defaults.port, 0, 65535)
    const host = set(env, "HOST") ?? defaults.host
    const databaseUrl = set(env, "DATABASE_URL")
    let database: Database = { _tag: "Embedded" }
    if (databaseUrl !== undefined) {
      let valid = false
      try {
        valid = ["postgres:", "postgresql:"].includes(new URL(databaseUrl).protocol)
      } catch {
        valid = false
      }
      if (!valid) {
        return yield* Either.left(
          new ConfigInvalid("DATABASE_URL", "must be a postgres:// URL (unset it to use the embedded database)")
        )
      }
      const poolSize = yield* integer(env, "DATABASE_POOL_SIZE", defaults.poolSize, 1, 1000)
      const prepare = yield* flag(env, "DATABASE_PREPARED_STATEMENTS", true)
      database = { _tag: "Postgres", url: Redacted.make(databaseUrl), poolSize, prepare }
    }
    const adminToken = yield* secret(env, "PARLEY_ADMIN_TOKEN", (v) =>
      v.length >= 16 && /^[\x21-\x7e]+$/.test(v) ? undefined : "must be at least 16 printable characters, no spaces"
    )
    const secretKey = yield* secret(env, "PARLEY_SECRET_KEY", (v) =>
      isSecretKey(v) ? undefined : "must be 32 bytes as base64 or hex (e.g. `openssl rand -base64 32`)"
    )
    const previousSecretKeys: Array<Redacted.Redacted<string>> = []
    for (const [index, raw] of (set(env, "PARLEY_PREVIOUS_SECRET_KEYS") ?? "").split(",").entries()) {
      const key = raw.trim()
      if (key === "") continue
      // The position, never the value: a key must not reach the output even when it is malformed.
      if (!isSecretKey(key)) {
        return yield* Either.left(
          new ConfigInvalid(
            "PARLEY_PREVIOUS_SECRET_KEYS",
            `must be comma-separated keys of 32 bytes as base64 or hex; entry ${index + 1} is not one`
          )
        )
      }
      previousSecretKeys.push(Redacted.make(key))
    }
    if (database._tag === "Postgres" && Option.isNone(secretKey)) {
      return yield* Either.left(
        new ConfigInvalid("PARLEY_SECRET_KEY", "is required with DATABASE_URL (e.g. `openssl rand -base64 32`)")
      )
    }
    const apiUrl = set(env, "WHATSAPP_API_URL") ?? defaults.apiUrl
    if (!/^https?:\/\/[^\s/]+/.test(apiUrl)) {
      return yield* Either.left(
        new ConfigInvalid("WHATSAPP_API_URL", `must be an http(s) URL, got ${JSON.stringify(apiUrl)}`)
      )
    }
    const apiVersion = set(env, "WHATSAPP_API_VERSION") ?? defaults.apiVersion
    if (!/^v\d+\.\d+$/.test(apiVersion)) {
      return yield* Either.left(
        new ConfigInvalid("WHATSAPP_API_VERSION", `must look like v24.0, got ${JSON.stringify(apiVersion)}`)
      )
    }
    const publicUrl = set(env, "PARLEY_PUBLIC_URL")
    if (publicUrl !== undefined && !/^https?:\/\/[^\s/?#]+(?:\/[^\s?#]*)?$/.test(publicUrl)) {
      return yield* Either.left(
        new ConfigInvalid(
          "PARLEY_PUBLIC_URL",
          `must be an http(s) URL without query or fragment (e.g. https://parley.example.com), got ${JSON.stringify(publicUrl)}`
        )
      )
    }
    const twilioUrls: Record<string, string> = {}
    for (const [variable, fallback] of [
      ["TWILIO_API_URL", defaults.twilioApiUrl],
      ["TWILIO_CONTENT_URL", defaults.twilioContentUrl],
      ["TWILIO_MESSAGING_URL", defaults.twilioMessagingUrl]
    ] as const) {
      const url = set(env, variable) ?? fallback
      if (!/^https?:\/\/[^\s/]+/.test(url)) {
        return yield* Either.left(new ConfigInvalid(variable, `must be an http(s) URL, got ${JSON.stringify(url)}`))
      }
      twilioUrls[variable] = url.replace(/\/+$/, "")
    }
    const appSecret = yield* secret(env, "WHATSAPP_APP_SECRET")
    const verifyToken = yield* secret(env, "WHATSAPP_VERIFY_TOKEN")
    const rateLimitPerMinute = yield* integer(
      env,
      "PARLEY_RATE_LIMIT_PER_MINUTE",
      defaults.rateLimitPerMinute,
      0,
      1_000_000
    )
    // At least two minutes (a send attempt, queueing and retries included, ends well before; so does a claim's
    // lease), at most a day (keys are kept at least 24 hours, and must outlive their send's timeout).
    const unconfirmedSendTimeoutSeconds = yield* integer(
      env,
      "PARLEY_UNCONFIRMED_SEND_TIMEOUT",
      defaults.unconfirmedSendTimeoutSeconds,
      120,
      86_400
    )
    const authFailuresPerMinute = yield* integer(
      env,
      "PARLEY_AUTH_FAILURE_LIMIT",
      defaults.authFailuresPerMinute,
      0,
      1_000_000
    )
    const eventRetentionSeconds = yield* retention(env, "PARLEY_EVENT_RETENTION", defaults.eventRetentionSeconds)
    const level = (set(env, "PARLEY_LOG_LEVEL") ?? "info").toLowerCase()
    const logLevel = logLevels[level]
    if (logLevel === undefined) {
      return yield* Either.left(
        new ConfigInvalid(
          "PARLEY_LOG_LEVEL",
          `must be one of debug, info, warn, error, none; got ${JSON.stringify(level)}`
        )
      )
    }
    const metricsToken = yield* secret(env, "PARLEY_METRICS_TOKEN", (v) =>
      v.length >= 16 && /^[\x21-\x7e]+$/.test(v) ? undefined : "must be at least 16 printable characters, no spaces"
    )
    const metricsPublic = (set(env, "PARLEY_METRICS_PUBLIC") ?? "false").toLowerCase()
    if (!["true", "false", "1", "0"].includes(metricsPublic)) {
      return yield* Either.left(
        new ConfigInvalid("PARLEY_METRICS_PUBLIC", `must be true or false, got ${JSON.stringify(metricsPublic)}`)
      )
    }
    const allowPrivateTargets = yield* flag(env, "PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS")
    const allowHttp = yield* flag(env, "PARLEY_WEBHOOK_ALLOW_HTTP")
    const otlpEndpoint = set(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if (otlpEndpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(otlpEndpoint)) {
      return yield* Either.left(
        new ConfigInvalid("OTEL_EXPORTER_OTLP_ENDPOINT", `must be an http(s) URL, got ${JSON.stringify(otlpEndpoint)}`)
      )
    }
    return {
      port,
      host,
      database,
      dataDir: set(env, "PARLEY_DATA_DIR") ?? defaults.dataDir,
      mediaDir: Option.fromNullable(set(env, "PARLEY_MEDIA_DIR")),
      adminToken,
      secretKey,
      previousSecretKeys,
      whatsapp: { apiUrl: apiUrl.replace(/\/+$/, ""), apiVersion, appSecret, verifyToken },
      publicUrl: Option.fromNullable(publicUrl?.replace(/\/+$/, "")),
      twilio: {
        apiUrl: twilioUrls.TWILIO_API_URL ?? defaults.twilioApiUrl,
        contentUrl: twilioUrls.TWILIO_CONTENT_URL ?? defaults.twilioContentUrl,
        messagingUrl: twilioUrls.TWILIO_MESSAGING_URL ?? defaults.twilioMessagingUrl
      },
      rateLimitPerMinute,
      unconfirmedSendTimeoutSeconds,
      authFailuresPerMinute,
      eventRetentionSeconds,
      logLevel,
      metrics: {
        ...(Option.isSome(metricsToken) ? { token: metricsToken.value } : {}),
        public: metricsPublic === "true" || metricsPublic === "1"
      },
      otlpEndpoint: Option.fromNullable(otlpEndpoint),
      outboundWebhooks: { allowPrivateTargets, allowHttp }
    }
  })
