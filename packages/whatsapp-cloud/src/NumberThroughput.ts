/**
 * Reads a number's throughput tier from Meta (`GET /{version}/{phone-number-id}?fields=throughput`), so the service
 * spaces the number's sends by what Meta allows it rather than by one constant for every number.
 *
 * Meta answers `{ "throughput": { "level": "STANDARD" | "HIGH" | "NOT_APPLICABLE" }, "id": "…" }`:
 * - `STANDARD`: the default tier, 80 messages per second;
 * - `HIGH`: a number Meta upgraded (automatically, when it may message unlimited customers at good quality),
 *   1,000 messages per second;
 * - `NOT_APPLICABLE`: no Cloud API tier applies to the number (e.g. not registered on Cloud API yet): the number
 *   keeps the value it has.
 * A level Parley does not know yet is treated like `NOT_APPLICABLE`, so a new tier never lowers a number's rate.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { defaultMessagesPerSecond, type GatewayError, type WhatsAppNumber } from "@parley/core"
import { Context, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import * as CloudApiGateway from "./CloudApiGateway.js"
import * as GraphHttp from "./internal/graphHttp.js"

/** Messages per second of each level Meta reports; a level absent here leaves the number's value unchanged. */
export const messagesPerSecondOfLevel: Readonly<Record<string, number>> = {
  STANDARD: defaultMessagesPerSecond,
  HIGH: 1_000
}

export const ThroughputResponse = Schema.Struct({
  throughput: Schema.optional(Schema.Struct({ level: Schema.optional(Schema.String) }))
})

const decodeResponse = Schema.decodeUnknownEither(Schema.parseJson(ThroughputResponse))

/** The messages per second Meta's answer means, or none when it names no tier Parley knows. */
export const fromResponse = (response: typeof ThroughputResponse.Type): Option.Option<number> =>
  Option.fromNullable(response.throughput?.level).pipe(
    Option.flatMap((level) => Option.fromNullable(messagesPerSecondOfLevel[level.toUpperCase()]))
  )

export class NumberThroughput extends Context.Tag("@parley/whatsapp-cloud/NumberThroughput")<
  NumberThroughput,
  {
    /** The number's messages per second as Meta reports its tier, or none when Meta reports no tier. */
    readonly read: (number: WhatsAppNumber) => Effect.Effect<Option.Option<number>, GatewayError>
  }
>() {}

export type Options = Pick<
  CloudApiGateway.Options,
  "baseUrl" | "apiVersion" | "requestTimeout" | "retry" | "transformClient"
>

export const make = (options: Options = {}): Effect.Effect<NumberThroughput["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = options.transformClient ? options.transformClient(base) : base
    const config = CloudApiGateway.settings(options)

    const read = (number: WhatsAppNumber) => {
      const request = HttpClientRequest.get(
        `${config.baseUrl}/${config.apiVersion}/${encodeURIComponent(number.providerPhoneNumberId)}`
      ).pipe(
        HttpClientRequest.setUrlParam("fields", "throughput"),
        HttpClientRequest.bearerToken(Redacted.value(number.accessToken)),
        HttpClientRequest.acceptJson
      )
      const attempt = Effect.flatMap(GraphHttp.execute(client, request, config.requestTimeout), (response) =>
        Either.match(decodeResponse(response.body), {
          onLeft: () => Effect.fail(GraphHttp.AttemptFailure.Ambiguous({ reason: "unreadable throughput answer" })),
          onRight: (decoded) => Effect.succeed(fromResponse(decoded))
        })
      )
      return GraphHttp.retrying(attempt, config.retry, { idempotent: true }).pipe(
        Effect.withSpan("NumberThroughput.read", {
          attributes: { "whatsapp.phone_number_id": number.providerPhoneNumberId }
        })
      )
    }

    return NumberThroughput.of({ read })
  })

export const layer = (options: Options = {}): Layer.Layer<NumberThroughput, never, HttpClient.HttpClient> =>
  Layer.effect(NumberThroughput, make(options))
