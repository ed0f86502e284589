/**
 * The event endpoints: the feed (a page of the core's `EventFeed`, cursors signed like every other) and the live
 * stream as Server-Sent Events. The stream's `id:` is the signed feed cursor, so `Last-Event-ID` (which a browser's
 * EventSource sends when it reconnects) and `?after=` resume exactly after the last event received, from the feed:
 * nothing lost, nothing repeated, across restarts and processes.
 *
 * A stream ends on its own when the service begins to stop (`stopping`), so a graceful shutdown does not wait for
 * it; the client reconnects (to another process, or this one restarted) and resumes.
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { EventFeed, EventLog, type EventType, eventTypes, type RecordedEvent } from "@parley/core"
import { type Deferred, Duration, Effect, Either, Option, Stream } from "effect"
import { Api } from "./Api.js"
import { type ApiError, invalidCursor, invalidRequest } from "./ApiError.js"
import { CursorSigning } from "./CursorSigning.js"
import { type DomainError, toApiError } from "./ErrorMapping.js"
import { CurrentActor } from "./Security.js"

export interface EventStreamOptions {
  /** A comment line this often keeps proxies and clients from closing an idle stream (default 15 s). */
  readonly heartbeat?: Duration.DurationInput | undefined
  /** Completed when the service begins to stop: every stream then ends. */
  readonly stopping: Deferred.Deferred<void>
}

const known = new Set<string>(eventTypes)

/** `types=a,b`: each must be an event type. */
const parseTypes = (raw: string | undefined): Either.Either<ReadonlyArray<EventType> | undefined, ApiError> => {
  if (raw === undefined || raw.trim() === "") return Either.right(undefined)
  const types = raw.split(",").map((type) => type.trim())
  const unknown = types.filter((type) => !known.has(type))
  return unknown.length > 0
    ? Either.left(
        invalidRequest([
          {
            path: "types",
            message: `unknown event type ${JSON.stringify(unknown[0])}; one of ${eventTypes.join(", ")}`
          }
        ])
      )
    : Either.right(types.filter((type): type is EventType => known.has(type)))
}

const naming =
  (parameter: string) =>
  (error: DomainError | ApiError): ApiError =>
    error._tag === "InvalidCursor" ? invalidCursor(parameter) : error._tag === "ApiError" ? error : toApiError(error)

const encoder = new TextEncoder()

/** One SSE frame. `data` is JSON (no raw newlines), so one `data:` line carries it. */
const frame = (id: string, event: RecordedEvent) =>
  encoder.encode(`id: ${id}\nevent: ${event.event.type}\ndata: ${JSON.stringify(event.event)}\n\n`)

export const EventsLive = (options: EventStreamOptions) =>
  HttpApiBuilder.group(Api, "events", (handlers) =>
    Effect.gen(function* () {
      const cursors = yield* CursorSigning
      const log = yield* EventLog
      const heartbeat = Duration.decode(options.heartbeat ?? Duration.seconds(15))
      const open = (signed: string | undefined) =>
        signed === undefined ? Either.right(Option.none<string>()) : Either.map(cursors.open(signed), Option.some)
      return handlers
        .handle("listEvents", ({ urlParams }) =>
          Effect.gen(function* () {
            const actor = yield* CurrentActor
            const after = yield* open(urlParams.after)
            const types = yield* parseTypes(urlParams.types)
            const page = yield* EventFeed.page(actor, {
              after,
              ...(types === undefined ? {} : { types }),
              limit: urlParams.limit ?? 100
            })
            return {
              message: "Events retrieved",
              data: page.events.map((row) => row.event),
              page: { nextCursor: Option.getOrNull(Option.map(page.nextCursor, cursors.sign)) }
            }
          }).pipe(Effect.mapError(naming("after")))
        )
        .handle("streamEvents", ({ urlParams, headers }) =>
          Effect.gen(function* () {
            const actor = yield* CurrentActor
            const fromHeader = headers["last-event-id"]
            const after = yield* Effect.mapError(open(fromHeader ?? urlParams.after), () =>
              invalidCursor(fromHeader === undefined ? "after" : "Last-Event-ID")
            )
            const types = yield* parseTypes(urlParams.types)
            const follow = { after, ...(types === undefined ? {} : { types }) }
            // The scope and the cursor are checked before the answer starts, so a refusal is a plain 4xx.
            yield* EventFeed.page(actor, { ...follow, limit: 0 })
            const events = EventFeed.follow(actor, follow).pipe(
              Stream.provideService(EventLog, log),
              Stream.map((row) => frame(cursors.sign(row.cursor), row)),
              // A storage failure ends the stream; the client reconnects and resumes from its last id.
              Stream.catchAllCause((cause) =>
                Stream.fromEffect(Effect.logWarning("event stream ended by a failure", cause)).pipe(Stream.drain)
              )
            )
            const beats = Stream.tick(heartbeat).pipe(
              Stream.drop(1),
              Stream.map(() => encoder.encode(": heartbeat\n\n"))
            )
            const body = Stream.make(encoder.encode(": connected\n\n")).pipe(
              Stream.concat(Stream.merge(events, beats, { haltStrategy: "left" })),
              Stream.interruptWhen(options.stopping)
            )
            return HttpServerResponse.stream(body, {
              contentType: "text/event-stream; charset=utf-8",
              headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
            })
          }).pipe(Effect.mapError(naming("after")))
        )
    })
  )
