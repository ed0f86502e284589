/**
 * The event endpoints of the public API: the feed (`GET /v1/messaging/events`, keyset pages of a business's
 * events, oldest first) and the live stream (`GET /v1/messaging/events/stream`, Server-Sent Events). The event
 * payloads are named schemas (`MessageReceivedEvent`, …), so webhooks can document the same shapes.
 */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Events } from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "./ApiError.js"
import { PagedEnvelope } from "./Representation.js"
import { ApiKeyAuth, RequiredScope } from "./Security.js"

const Cursor = Schema.String.pipe(Schema.maxLength(512))

const Types = Schema.String.pipe(Schema.maxLength(1000)).annotations({
  description: `Comma-separated event types to keep (default: every type): ${Events.eventTypes.join(", ")}`
})

export const ListEventsParams = Schema.Struct({
  after: Schema.optional(
    Cursor.annotations({
      description:
        "`page.nextCursor` of the previous page (or an event stream's `id`); from the oldest kept event when absent"
    })
  ),
  types: Schema.optional(Types),
  limit: Schema.optional(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)).annotations({
      description: "Page size, 1–1000 (default 100)",
      jsonSchema: { type: "integer", minimum: 1, maximum: 1000, default: 100, description: "Page size, 1–1000" }
    })
  )
})

export const StreamEventsParams = Schema.Struct({
  after: Schema.optional(
    Cursor.annotations({
      description: "Start after this feed cursor (the `Last-Event-ID` header wins); from now when neither is given"
    })
  ),
  types: Schema.optional(Types)
})

export const StreamHeaders = Schema.Struct({
  "last-event-id": Schema.optional(
    Cursor.annotations({
      description: "The last `id` received: the stream resumes right after it (EventSource sends it)"
    })
  )
})

const EventStream = HttpApiSchema.Text({ contentType: "text/event-stream" }).annotations({
  description:
    "Server-Sent Events: for each event `id:` (its feed cursor), `event:` (its type) and `data:` (the event as JSON, " +
    "one of the `*Event` schemas); a `: heartbeat` comment about every 15 s."
})

export const events = HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("listEvents", "/events")
      .setUrlParams(ListEventsParams)
      .addSuccess(PagedEnvelope(Schema.Array(Events.Event)))
      .addError(ErrorBody, { status: 400 })
      .annotate(RequiredScope, "messaging:events:read")
      .annotate(OpenApi.Summary, "Read the event feed")
      .annotate(
        OpenApi.Description,
        "Every event of your business, oldest first, after `after`. Continue from `page.nextCursor` (it is returned " +
          "even when the page is empty: ask again later from there). Events are kept for the retention period " +
          "(7 days by default). Order events of one conversation by `sequence`. Scope `messaging:events:read`."
      )
  )
  .add(
    HttpApiEndpoint.get("streamEvents", "/events/stream")
      .setUrlParams(StreamEventsParams)
      .setHeaders(StreamHeaders)
      .addSuccess(EventStream)
      .addError(ErrorBody, { status: 400 })
      .annotate(RequiredScope, "messaging:events:read")
      .annotate(OpenApi.Summary, "Stream events live (Server-Sent Events)")
      .annotate(
        OpenApi.Description,
        "New events of your business as they happen, from any Parley process. Reconnect with `Last-Event-ID` (or " +
          "`after`) to resume exactly after the last event received. Scope `messaging:events:read`."
      )
  )
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 403 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(ApiKeyAuth)
  .prefix("/v1/messaging")
  .annotate(OpenApi.Title, "Events")
  .annotate(
    OpenApi.Description,
    "What happened in your inbox: a replayable feed and a live stream of the same events. API key auth."
  )
