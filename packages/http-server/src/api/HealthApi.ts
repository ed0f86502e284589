/** Liveness and readiness. */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { answers } from "./common.js"

export const HealthJson = Schema.Struct({ status: Schema.String })

export const health = HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthJson)
      .annotate(OpenApi.Summary, "Liveness")
      .annotate(OpenApi.Description, "Alive: the process answers.")
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(HealthJson)
      .pipe(answers(503))
      .annotate(OpenApi.Summary, "Readiness")
      .annotate(OpenApi.Description, "Ready: the database answers. 503 otherwise.")
  )
  .annotate(OpenApi.Title, "Health")
  .annotate(OpenApi.Description, "Liveness and readiness probes for load balancers and orchestrators.")
