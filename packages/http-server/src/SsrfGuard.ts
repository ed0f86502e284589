/**
 * Outbound webhook targets must not reach the service's own network: a URL is refused when ANY address its host
 * resolves to is not public unicast (private, loopback, link-local, CGNAT, multicast, reserved, documentation,
 * 6to4/Teredo/NAT64 and the like, as ipaddr.js classifies them; v4-mapped IPv6 is unmapped first). The caller then
 * connects to the address checked here, never re-resolving the name, so a DNS answer that changes between the check
 * and the connection (rebinding) cannot redirect it. Checked at registration and again before every attempt.
 *
 * The operator may allow private targets (`PARLEY_WEBHOOK_ALLOW_PRIVATE_TARGETS=true`, e.g. receivers on the same
 * network; the tests' receivers on loopback) and plain http (`PARLEY_WEBHOOK_ALLOW_HTTP=true`).
 */
import { lookup } from "node:dns/promises"
import { Effect, Schema } from "effect"
import ipaddr from "ipaddr.js"

export class TargetRefused extends Schema.TaggedError<TargetRefused>()("TargetRefused", {
  reason: Schema.String
}) {
  override get message() {
    return `the webhook URL is not allowed: ${this.reason}`
  }
}

export interface GuardOptions {
  readonly allowPrivateTargets: boolean
  readonly allowHttp: boolean
}

export interface CheckedTarget {
  readonly url: URL
  /** The address to connect to: one that passed the check. */
  readonly address: string
  readonly family: 4 | 6
}

/** ipaddr.js's range name for an address (`unicast` for a public one), after unmapping v4-mapped IPv6. */
export const rangeOf = (address: string): string => ipaddr.process(address).range()

export const isPublic = (address: string): boolean => ipaddr.isValid(address) && rangeOf(address) === "unicast"

/** Parses and checks the URL without resolving it (the shape rules: scheme, no credentials). */
export const parseTarget = (raw: string, options: GuardOptions): URL | TargetRefused => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return new TargetRefused({ reason: "not an absolute URL" })
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && options.allowHttp)) {
    return new TargetRefused({ reason: options.allowHttp ? "the scheme must be http or https" : "https is required" })
  }
  if (url.username !== "" || url.password !== "") {
    return new TargetRefused({ reason: "credentials in the URL are not allowed" })
  }
  return url
}

const resolve = (hostname: string) =>
  Effect.tryPromise({
    try: () => lookup(hostname, { all: true, verbatim: true }),
    catch: () => new TargetRefused({ reason: `the host ${hostname} does not resolve` })
  })

/** Checks the URL and resolves its host; refuses it when any address is not public (unless allowed). */
export const check = (raw: string, options: GuardOptions): Effect.Effect<CheckedTarget, TargetRefused> =>
  Effect.gen(function* () {
    const url = parseTarget(raw, options)
    if (url instanceof TargetRefused) return yield* url
    // WHATWG URL already normalises IPv4 in hex/octal/decimal forms; IPv6 literals come bracketed.
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1")
    const addresses = ipaddr.isValid(host)
      ? [{ address: host, family: ipaddr.parse(host).kind() === "ipv6" ? 6 : 4 }]
      : yield* resolve(host)
    const first = addresses[0]
    if (first === undefined) return yield* new TargetRefused({ reason: `the host ${host} does not resolve` })
    if (!options.allowPrivateTargets) {
      const refused = addresses.find((a) => !isPublic(a.address))
      if (refused !== undefined) {
        return yield* new TargetRefused({
          reason: `${host} resolves to a non-public address (${rangeOf(refused.address)})`
        })
      }
    }
    return { url, address: first.address, family: first.family === 6 ? 6 : 4 }
  })
