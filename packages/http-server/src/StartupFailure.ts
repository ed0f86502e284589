/**
 * Why the service could not start, as one line that names the cause and the variable to look at: a port in use, a
 * PostgreSQL server that refuses, a database that does not exist, a secret key that does not open the stored tokens.
 * Never a secret: a database URL is shown without its password, a key never.
 */
import { Cause, Redacted } from "effect"
import type { ServiceConfig } from "./Config.js"

/** The configured secret keys do not open the stored access tokens (a configuration error, found at start). */
export class SecretKeyMismatch {
  readonly _tag = "SecretKeyMismatch"
  constructor(
    /** Where the current key comes from: `PARLEY_SECRET_KEY`, or the key file in the data directory. */
    readonly source: string,
    readonly unreadable: number,
    readonly total: number
  ) {}
  get message() {
    return (
      `${this.source} cannot open ${this.unreadable} of ${this.total} stored WhatsApp access tokens: set it to the ` +
      "key they were sealed with, or list that key in PARLEY_PREVIOUS_SECRET_KEYS"
    )
  }
}

export interface Description {
  /** A configuration error (the operator fixes a variable) or another start-up failure. */
  readonly kind: "configuration" | "start"
  readonly line: string
}

const field = (u: unknown, name: string): unknown =>
  typeof u === "object" && u !== null && name in u ? (u as Record<string, unknown>)[name] : undefined

const text = (u: unknown): string | undefined => {
  const value = typeof u === "string" ? u : field(u, "message")
  return typeof value === "string" && value.trim() !== "" ? value.trim().split("\n")[0] : undefined
}

/** The error code of a Node or PostgreSQL error, looking through `cause` chains. */
const codeOf = (u: unknown): string | undefined => {
  for (let current = u, depth = 0; current !== undefined && depth < 5; current = field(current, "cause"), depth++) {
    const code = field(current, "code")
    if (typeof code === "string") return code
  }
  return undefined
}

/** The PostgreSQL URL, parsed (only its host, port, user and database are ever shown). */
const databaseUrl = (config: ServiceConfig): URL | undefined => {
  if (config.database._tag !== "Postgres") return undefined
  try {
    return new URL(Redacted.value(config.database.url))
  } catch {
    return undefined
  }
}

/** The cause of a failed start, in one line. */
export const describe = (cause: Cause.Cause<unknown>, config: ServiceConfig): Description => {
  const error = Cause.squash(cause)
  const tag = field(error, "_tag")
  const code = codeOf(field(error, "cause")) ?? codeOf(error)
  if (tag === "SecretKeyMismatch" || tag === "ConfigInvalid") {
    return { kind: "configuration", line: text(error) ?? String(tag) }
  }
  if (tag === "ServeError") {
    const where = `port ${config.port} on ${config.host}`
    if (code === "EADDRINUSE") return { kind: "start", line: `${where} is already in use (PORT, HOST)` }
    if (code === "EACCES") return { kind: "start", line: `no permission to listen on ${where} (PORT)` }
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      return { kind: "start", line: `HOST (${config.host}) is not an address of this machine` }
    }
    return { kind: "start", line: `cannot listen on ${where}: ${text(field(error, "cause")) ?? code ?? "unknown"}` }
  }
  if (tag === "SqlError" && config.database._tag === "Postgres") {
    const url = databaseUrl(config)
    const address = url === undefined ? "the server" : url.host
    const database = url === undefined ? "" : decodeURIComponent(url.pathname.slice(1))
    switch (code) {
      case "ECONNREFUSED":
        return { kind: "start", line: `${address} refused the connection: is the server running?` }
      case "ENOTFOUND":
      case "EAI_AGAIN":
        return { kind: "start", line: `the host ${url?.hostname ?? "?"} is not found` }
      case "3D000":
        return {
          kind: "start",
          line: `database "${database}" does not exist on ${address}: create it first`
        }
      case "28P01":
      case "28000":
        return {
          kind: "start",
          line: `${address} refused the credentials of user "${decodeURIComponent(url?.username ?? "")}"`
        }
    }
    if (text(field(error, "cause")) === "Connection timed out") {
      return { kind: "start", line: `${address} did not answer within 5 seconds` }
    }
  }
  const outer = text(error)
  const inner = text(field(error, "cause"))
  const line = [outer, inner].filter((part) => part !== undefined).join(": ")
  return { kind: "start", line: line === "" ? (typeof tag === "string" ? tag : "unknown error") : line }
}
