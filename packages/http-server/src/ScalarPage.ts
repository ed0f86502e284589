/**
 * The `/docs` page itself: Scalar's API reference, generated from the same `Api` as the server. This module is only
 * ever imported dynamically, on the first request for `/docs`: Scalar's viewer is 3.4 MB of JavaScript inlined in
 * the page, and importing it at start costs about 40 MB of resident memory that a service nobody browses never
 * needs (measured on the built service on PostgreSQL: 158 MB idle with it, 118 MB without). The bundler keeps its
 * module out of the chunks loaded at start (packages/http-server/scripts/bundle-bin.mjs says how).
 */
import * as HttpApiScalar from "@effect/platform/HttpApiScalar"
import * as HttpLayerRouter from "@effect/platform/HttpLayerRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import { Api } from "./Api.js"

/** The page's HTML, answered by Scalar's own handler for the request in context. */
export const render = (path: `/${string}`) =>
  Effect.scoped(
    Effect.flatMap(
      HttpLayerRouter.toHttpEffect(
        HttpApiScalar.layerHttpLayerRouter({ api: Api, path, scalar: { withDefaultFonts: false } })
      ),
      // The middleware calls this for `path` only (GET, or HEAD, which the router answers as GET).
      (handler) => Effect.catchTag(handler, "RouteNotFound", () => HttpServerResponse.empty({ status: 404 }))
    )
  )
