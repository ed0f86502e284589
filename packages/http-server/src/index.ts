/**
 * @parley/http-server: Parley's HTTP API (HttpApi, OpenAPI at /openapi.json, docs at /docs), Meta's webhooks, the
 * admin API, and the standalone service (`main.ts`) with its CLI (`cli.ts`).
 */
export * as Api from "./Api.js"
export * as ApiError from "./ApiError.js"
export * as Authentication from "./Authentication.js"
export * as Config from "./Config.js"
export * as DataDir from "./DataDir.js"
export * as Edge from "./Edge.js"
export * as ErrorMapping from "./ErrorMapping.js"
export * as NodeServer from "./NodeServer.js"
export * as RateLimit from "./RateLimit.js"
export * as Representation from "./Representation.js"
export * as Security from "./Security.js"
export * as Server from "./Server.js"
export * as Service from "./Service.js"
export * as WebhookProcessor from "./WebhookProcessor.js"
