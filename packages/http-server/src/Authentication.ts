/**
 * The security middlewares' implementations.
 *
 * API keys: `Authorization: Bearer <key>` (the scheme word is checked) or `X-API-Key: <key>`. No, malformed, unknown
 * or revoked key → 401; then the key's request rate (429); then the endpoint's scope (403), all before the request
 * body is read or decoded. Admin: `Authorization: Bearer <PARLEY_ADMIN_TOKEN>`, compared in constant time. Both
 * count their 401s against the client address (`AuthFailureLimit`), which answers 429 once it has failed too often.
 */

import { createHash, timingSafeEqual } from "node:crypto"
import { HttpApi, HttpRouter, HttpServerRequest } from "@effect/platform"
import { type Actor, requireScope, type Scope } from "@parley/core"
import { ApiKeys } from "@parley/postgres"
import { Context, Effect, type Exit, Layer, Option, Redacted } from "effect"
import { Api } from "./Api.js"
import { type ApiError, rateLimited, unauthorized } from "./ApiError.js"
import { AuthFailureLimit, guard } from "./AuthFailureLimit.js"
import { RequestInfo } from "./Edge.js"
import { toApiError } from "./ErrorMapping.js"
import { RateLimit } from "./RateLimit.js"
import { AdminAuth, ApiKeyAuth, RequiredScope } from "./Security.js"

/** `METHOD /path/:template` → the scope its endpoint requires. */
const scopesByRoute = (): ReadonlyMap<string, Scope> => {
  const table = new Map<string, Scope>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const scope = Context.getOption(endpoint.annotations, RequiredScope)
      if (Option.isSome(scope)) table.set(`${endpoint.method} ${endpoint.path}`, scope.value)
    }
  })
  return table
}

const bearerPattern = /^Bearer +(\S+) *$/i

/** The presented credential: a Bearer token, else `X-API-Key`. */
export const presentedKey = (headers: Readonly<Record<string, string | undefined>>): string | ApiError => {
  const authorization = headers.authorization
  if (authorization !== undefined && authorization !== "") {
    const match = bearerPattern.exec(authorization)
    return match?.[1] ?? unauthorized("the Authorization header must be `Bearer <API key>`")
  }
  const apiKey = headers["x-api-key"]?.trim()
  if (apiKey !== undefined && apiKey !== "") return apiKey
  return unauthorized("an API key is required: `Authorization: Bearer <key>` or `X-API-Key: <key>`")
}

type ApiKeyAuthNeeds = ApiKeys.ApiKeys | RateLimit | AuthFailureLimit

export const ApiKeyAuthLive: Layer.Layer<ApiKeyAuth, never, ApiKeyAuthNeeds> = Layer.effect(
  ApiKeyAuth,
  Effect.gen(function* () {
    const apiKeys = yield* ApiKeys.ApiKeys
    const rateLimit = yield* RateLimit
    const failures = yield* AuthFailureLimit
    const scopes = scopesByRoute()
    // Both security schemes run the same check (the second only after the first failed): a rejected request is
    // checked once, its outcome kept beside the request.
    const results = new WeakMap<object, Exit.Exit<Actor, ApiError>>()

    const check = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const presented = presentedKey(request.headers)
        if (typeof presented !== "string") return yield* Effect.fail(presented)
        const apiKey = yield* apiKeys.authenticate(Redacted.make(presented)).pipe(Effect.mapError(toApiError))
        const info = yield* Effect.serviceOption(RequestInfo)
        if (Option.isSome(info)) {
          info.value.apiKey = apiKey.shortId
          info.value.businessId = apiKey.businessId
        }
        const retryAfter = yield* rateLimit.take(apiKey.id).pipe(Effect.mapError(toApiError))
        if (retryAfter !== undefined) return yield* Effect.fail(rateLimited(retryAfter))
        const actor = ApiKeys.toActor(apiKey)
        const route = yield* Effect.serviceOption(HttpRouter.RouteContext)
        const scope = Option.flatMap(route, (r) => Option.fromNullable(scopes.get(`${r.route.method} ${r.route.path}`)))
        if (Option.isSome(scope)) yield* requireScope(actor, scope.value).pipe(Effect.mapError(toApiError))
        return actor
      })

    const authenticate = Effect.flatMap(
      Effect.serviceOption(HttpServerRequest.HttpServerRequest),
      Option.match({
        onNone: () => Effect.fail(unauthorized("no request")),
        onSome: (request) => {
          const known = results.get(request)
          if (known !== undefined) return known
          return Effect.onExit(guard(failures, check(request)), (exit) => Effect.sync(() => results.set(request, exit)))
        }
      })
    )
    return ApiKeyAuth.of({ bearer: () => authenticate, apiKey: () => authenticate })
  })
)

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

export const AdminAuthLive = (adminToken: Redacted.Redacted<string>): Layer.Layer<AdminAuth, never, AuthFailureLimit> =>
  Layer.effect(
    AdminAuth,
    Effect.map(AuthFailureLimit, (failures) => {
      const expected = digest(Redacted.value(adminToken))
      const authenticate = Effect.flatMap(Effect.serviceOption(HttpServerRequest.HttpServerRequest), (request) => {
        const authorization = Option.isSome(request) ? request.value.headers.authorization : undefined
        const match = authorization === undefined ? null : bearerPattern.exec(authorization)
        if (match?.[1] === undefined) {
          return Effect.fail(unauthorized("the admin API needs `Authorization: Bearer <PARLEY_ADMIN_TOKEN>`"))
        }
        return timingSafeEqual(digest(match[1]), expected)
          ? Effect.void
          : Effect.fail(unauthorized("the admin token is not valid"))
      })
      return AdminAuth.of({ adminToken: () => guard(failures, authenticate) })
    })
  )
