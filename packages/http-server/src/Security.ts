/**
 * The API's two security schemes as HttpApi middlewares, and what they provide to handlers. Their implementations
 * (key lookup, scope check, rate limit, admin token) are in `Authentication`.
 *
 * Clients send a key as `Authorization: Bearer <key>` or `X-API-Key: <key>`, never in the URL.
 */
import { HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "@effect/platform"
import type { Actor, Scope } from "@parley/core"
import { Context } from "effect"
import { ErrorBody } from "./ApiError.js"

/** What the middlewares fail with: 401 in OpenAPI (403 and 429 are declared on the endpoints). */
const Unauthorized = ErrorBody.annotations(HttpApiSchema.annotations({ status: 401 }))

/** The business, user and scopes the request's API key acts as. */
export class CurrentActor extends Context.Tag("@parley/http-server/CurrentActor")<CurrentActor, Actor>() {}

/** The scope an endpoint needs (an endpoint annotation, checked before the request is decoded). */
export class RequiredScope extends Context.Tag("@parley/http-server/RequiredScope")<RequiredScope, Scope>() {}

export class ApiKeyAuth extends HttpApiMiddleware.Tag<ApiKeyAuth>()("ApiKeyAuth", {
  failure: Unauthorized,
  provides: CurrentActor,
  security: {
    bearer: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "`Authorization: Bearer parley_…` with an API key")
    ),
    apiKey: HttpApiSecurity.apiKey({ key: "X-API-Key", in: "header" }).pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "`X-API-Key: parley_…` with an API key")
    )
  }
}) {}

export class AdminAuth extends HttpApiMiddleware.Tag<AdminAuth>()("AdminAuth", {
  failure: Unauthorized,
  security: {
    adminToken: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "`Authorization: Bearer <PARLEY_ADMIN_TOKEN>`")
    )
  }
}) {}
