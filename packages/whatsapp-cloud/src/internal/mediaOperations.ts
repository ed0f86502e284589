/**
 * The gateway's media downloads and uploads on the Graph API. A download is two requests: `GET /{media-id}` for a
 * short-lived URL, then `GET <url>` with the same bearer token, whose body is handed on as a stream. An upload is
 * one streamed multipart request.
 */
import { randomBytes } from "node:crypto"
import { type HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import {
  type GatewayError,
  type MediaFile,
  MediaGone,
  ProviderRejected,
  ProviderUnavailable,
  type UploadMedia,
  type WhatsAppNumber
} from "@parley/core"
import { Duration, Effect, Either, Schema, type Scope, Stream } from "effect"
import * as MediaPayload from "../MediaPayload.js"
import * as ProviderMetrics from "../ProviderMetrics.js"
import * as GraphHttp from "./graphHttp.js"

export interface MediaSettings {
  readonly baseUrl: string
  readonly apiVersion: string
  readonly requestTimeout: Duration.Duration
  readonly retry: GraphHttp.RetryPolicy
  /**
   * Hosts a download URL may point at: the token goes with the request, so it must only go to Meta. The Graph
   * API's own host is always allowed; `lookaside.fbsbx.com` is where Meta's media URLs point.
   */
  readonly mediaHosts: ReadonlyArray<string>
}

export const defaultMediaHosts: ReadonlyArray<string> = ["lookaside.fbsbx.com"]

// Meta's media host refused downloads without a User-Agent in several client libraries; send one always.
const userAgent = "Parley (+https://github.com/parley)"

const decodeInfo = Schema.decodeUnknownEither(Schema.parseJson(MediaPayload.MediaInfo))
const decodeUpload = Schema.decodeUnknownEither(Schema.parseJson(MediaPayload.UploadResponse))

/** Graph's answers for a media id it no longer (or never) had: code 100 (invalid/unknown object), 131052, a 404. */
const isGone = (error: GatewayError): boolean =>
  error._tag === "ProviderRejected" && (error.code === null || error.code === 100 || error.code === 131052)

export const make = (client: HttpClient.HttpClient, config: MediaSettings) => {
  const graphOrigin = new URL(config.baseUrl).origin
  const allowed = (url: URL) =>
    url.origin === graphOrigin || (url.protocol === "https:" && config.mediaHosts.includes(url.hostname))

  const info = (from: WhatsAppNumber, providerMediaId: string) =>
    GraphHttp.retrying(
      GraphHttp.execute(
        client,
        HttpClientRequest.get(
          `${config.baseUrl}/${config.apiVersion}/${encodeURIComponent(providerMediaId)}?phone_number_id=${encodeURIComponent(from.providerPhoneNumberId)}`
        ).pipe(HttpClientRequest.bearerToken(from.accessToken), HttpClientRequest.acceptJson),
        config.requestTimeout
      ).pipe(
        Effect.flatMap((response) =>
          Either.match(decodeInfo(response.body), {
            onLeft: () =>
              Effect.fail(
                GraphHttp.AttemptFailure.Final({
                  error: new ProviderRejected({ code: null, title: "the media answer has no download URL" })
                })
              ),
            onRight: Effect.succeed
          })
        ),
        ProviderMetrics.timeRequest("media_info")
      ),
      config.retry,
      { idempotent: true }
    ).pipe(Effect.catchIf(isGone, () => Effect.fail(new MediaGone({ providerMediaId }))))

  /** The bytes' response (headers read, body not yet), or `expired` for a 404 (the URL outlived its 5 minutes). */
  const bytes = (from: WhatsAppNumber, location: string) =>
    Effect.gen(function* () {
      const url = yield* Effect.try({
        try: () => new URL(location),
        catch: () => new ProviderRejected({ code: null, title: "the media download URL is not a URL" })
      })
      if (!allowed(url)) {
        return yield* Effect.fail(
          new ProviderRejected({ code: null, title: `the media download URL points at an unexpected host` })
        )
      }
      const response = yield* client
        .execute(
          HttpClientRequest.get(url).pipe(
            HttpClientRequest.bearerToken(from.accessToken),
            HttpClientRequest.setHeader("user-agent", userAgent)
          )
        )
        .pipe(
          Effect.timeoutFail({
            duration: config.requestTimeout,
            onTimeout: () => new ProviderUnavailable({ code: null, title: "the media download did not start in time" })
          }),
          Effect.catchTag("RequestError", "ResponseError", (error) =>
            Effect.fail(new ProviderUnavailable({ code: null, title: `the media download failed: ${error.message}` }))
          )
        )
      if (response.status === 404) return "expired" as const
      if (response.status < 200 || response.status >= 300) {
        return yield* Effect.fail(
          new ProviderUnavailable({ code: null, title: `the media download answered HTTP ${response.status}` })
        )
      }
      return response
    })

  const fileOf = (meta: MediaPayload.MediaInfo, response: HttpClientResponse.HttpClientResponse): MediaFile => {
    const declared = Number(response.headers["content-length"] ?? Number.NaN)
    return {
      mimeType: meta.mime_type ?? response.headers["content-type"] ?? "application/octet-stream",
      sizeBytes: meta.file_size ?? (Number.isSafeInteger(declared) && declared >= 0 ? declared : null),
      sha256: meta.sha256 ?? null,
      body: response.stream.pipe(
        Stream.mapError(
          (error) => new ProviderUnavailable({ code: null, title: `the media download broke off: ${error.message}` })
        )
      )
    }
  }

  const fetchMedia = (request: {
    readonly from: WhatsAppNumber
    readonly providerMediaId: string
  }): Effect.Effect<MediaFile, MediaGone | GatewayError, Scope.Scope> =>
    Effect.gen(function* () {
      // A URL lives about 5 minutes: a 404 on the bytes gets one fresh URL before the file counts as gone.
      for (let attempt = 1; ; attempt++) {
        const meta = yield* info(request.from, request.providerMediaId)
        const response = yield* bytes(request.from, meta.url)
        if (response !== "expired") return fileOf(meta, response)
        if (attempt >= 2) return yield* Effect.fail(new MediaGone({ providerMediaId: request.providerMediaId }))
      }
    }).pipe(
      Effect.withSpan("CloudApiGateway.fetchMedia", {
        attributes: { "whatsapp.phone_number_id": request.from.providerPhoneNumberId }
      })
    )

  const uploadMedia = (request: UploadMedia) => {
    const body = MediaPayload.uploadBody(request, request.body, `parley-${randomBytes(12).toString("hex")}`)
    const url = `${config.baseUrl}/${config.apiVersion}/${encodeURIComponent(request.from.providerPhoneNumberId)}/media`
    // An upload that may have arrived is retried anyway: a second copy costs an unused media id, never a message.
    // A large file takes longer than a message send; the attempt's timeout grows with the size (1 MB/s at least).
    const timeout = Duration.sum(config.requestTimeout, Duration.millis(request.sizeBytes / 1000))
    return GraphHttp.retrying(
      GraphHttp.execute(
        client,
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.bearerToken(request.from.accessToken),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyStream(body.stream, {
            contentType: body.contentType,
            contentLength: body.contentLength
          })
        ),
        timeout
      ).pipe(
        Effect.flatMap((response) =>
          Either.match(decodeUpload(response.body), {
            onLeft: () =>
              Effect.fail(
                GraphHttp.AttemptFailure.Final({
                  error: new ProviderRejected({ code: null, title: "the upload answer has no media id" })
                })
              ),
            onRight: (answer) => Effect.succeed({ providerMediaId: answer.id })
          })
        ),
        ProviderMetrics.timeRequest("media_upload")
      ),
      config.retry,
      { idempotent: true }
    ).pipe(
      Effect.withSpan("CloudApiGateway.uploadMedia", {
        attributes: { "whatsapp.phone_number_id": request.from.providerPhoneNumberId }
      })
    )
  }

  return { fetchMedia, uploadMedia }
}
