/**
 * The core's `MessagingGateway` on WhatsApp through Twilio's Programmable Messaging:
 * `POST {apiBaseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth with the
 * number's Account SID and auth token (or its API key SID and secret). Credentials come from each request's `from`
 * number, so one gateway serves every Twilio account in the deployment.
 *
 * Twilio echoes no data of ours on status callbacks: a status finds its message by `MessageSid`, which is the
 * `providerMessageId` this gateway returns and the core records at send (a status that overtakes that record is
 * parked by the core until it is).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import {
  type Accepted,
  type BoundTemplate,
  type CustomerIdentity,
  type GatewayError,
  MessagingGateway,
  ProviderMisconfigured,
  ProviderRejected,
  RecipientInvalid,
  type SendMedia,
  type SendTemplate,
  type SendText,
  TemplateRejected,
  type WhatsAppNumber
} from "@parley/core"
import { Duration, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import * as MediaDownload from "./internal/mediaDownload.js"
import * as TwilioHttp from "./internal/twilioHttp.js"

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  readonly maxAttempts?: number
  /** No retry starts later than this after the first attempt (default 10 seconds). */
  readonly budget?: Duration.DurationInput
  /** First backoff ceiling; it doubles per attempt (default 250 millis). */
  readonly baseDelay?: Duration.DurationInput
  /** Largest backoff ceiling (default 4 seconds). */
  readonly maxDelay?: Duration.DurationInput
}

export interface Options {
  /** Default `https://api.twilio.com`; point it at the fake Twilio API in tests and sandboxes. */
  readonly apiBaseUrl?: string
  /** Default `https://content.twilio.com` (the Content API, for template sync). */
  readonly contentBaseUrl?: string
  /** Default `https://messaging.twilio.com` (typing indicators, which are Twilio's only read receipts). */
  readonly messagingBaseUrl?: string
  /** Where Twilio posts the sends' status callbacks (Parley's Twilio webhook for this number); null: none. */
  readonly statusCallbackUrl: (from: WhatsAppNumber) => string | null
  /** Per attempt, from sending the request to reading the whole answer (default 15 seconds). */
  readonly requestTimeout?: Duration.DurationInput
  readonly retry?: RetryOptions
  /**
   * How `markRead` shows the customer blue ticks. Twilio's Messaging API has no read receipt of its own; its
   * typing indicator (public beta) marks the message read and shows "typing…" for up to 25 seconds, or until the
   * reply arrives. `"typing-indicator"` (the default) sends one; `"off"` makes `markRead` a no-op.
   */
  readonly readReceipts?: "typing-indicator" | "off"
  /** Applied to the `HttpClient` (tracing, proxies, extra headers). */
  readonly transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

export const defaults = {
  apiBaseUrl: "https://api.twilio.com",
  contentBaseUrl: "https://content.twilio.com",
  messagingBaseUrl: "https://messaging.twilio.com",
  requestTimeout: Duration.seconds(15),
  retry: {
    maxAttempts: 4,
    budget: Duration.seconds(10),
    baseDelay: Duration.millis(250),
    maxDelay: Duration.seconds(4)
  }
} as const

/** Twilio's limit on `Body` (WhatsApp itself allows more; Twilio refuses longer bodies with 21617). */
export const maxBodyLength = 1600

const trimSlash = (url: string) => url.replace(/\/+$/, "")

export const retryPolicy = (retry: RetryOptions | undefined): TwilioHttp.RetryPolicy => ({
  maxAttempts: Math.max(1, Math.floor(retry?.maxAttempts ?? defaults.retry.maxAttempts)),
  budget: Duration.decode(retry?.budget ?? defaults.retry.budget),
  baseDelay: Duration.decode(retry?.baseDelay ?? defaults.retry.baseDelay),
  maxDelay: Duration.decode(retry?.maxDelay ?? defaults.retry.maxDelay)
})

/** `whatsapp:+E164`, Twilio's WhatsApp address. */
export const whatsappAddress = (e164: string): string => `whatsapp:${e164}`

/** The Basic-auth pair for a number: its API key when it has one, else Account SID and auth token. */
export const credentialsOf = (
  from: WhatsAppNumber
): Either.Either<
  { readonly accountSid: string; readonly username: string; readonly password: string },
  ProviderMisconfigured
> => {
  if (from.provider !== "twilio") {
    return Either.left(
      new ProviderMisconfigured({
        code: null,
        title: `number ${from.id} is carried by ${from.provider}, not Twilio`
      })
    )
  }
  const accountSid = from.providerAccountId
  if (accountSid === null || !/^AC[0-9a-zA-Z]{32}$/.test(accountSid)) {
    return Either.left(
      new ProviderMisconfigured({ code: null, title: `number ${from.id} has no valid Twilio Account SID (AC…)` })
    )
  }
  const key = from.providerApiKey
  return Either.right(
    key === null
      ? { accountSid, username: accountSid, password: Redacted.value(from.accessToken) }
      : { accountSid, username: key.sid, password: Redacted.value(key.secret) }
  )
}

const recipientOf = (to: CustomerIdentity): Either.Either<string, RecipientInvalid> =>
  Option.match(to.phone, {
    onNone: () =>
      Either.left(
        new RecipientInvalid({ code: null, title: "Twilio addresses WhatsApp users by phone number; none is known" })
      ),
    onSome: (phone) => Either.right(whatsappAddress(phone))
  })

/** A Content SID: what Twilio template sync stores as the template's provider name. */
export const contentSidPattern = /^HX[0-9a-fA-F]{32}$/

/**
 * `ContentVariables` for a bound template: its body parameters by name (`{{order_id}}`), or by position
 * (`{{1}}`, `{{2}}`…). Header and button parameters cannot be mapped: Twilio's Content templates carry one flat
 * variable map and template sync only imports templates whose variables are all in the body.
 */
export const contentVariables = (
  template: BoundTemplate
): Either.Either<{ readonly contentSid: string; readonly variables: Record<string, string> }, TemplateRejected> => {
  if (!contentSidPattern.test(template.name)) {
    return Either.left(
      new TemplateRejected({
        code: null,
        title: `template ${JSON.stringify(template.name)} is not a Twilio Content SID (HX…): sync it from the Content API`
      })
    )
  }
  const variables: Record<string, string> = {}
  for (const component of template.components) {
    if (component.type !== "body") {
      return Either.left(
        new TemplateRejected({ code: null, title: `a ${component.type} parameter cannot be sent through Twilio` })
      )
    }
    let position = 0
    for (const parameter of component.parameters) {
      position++
      if (parameter.type !== "text") {
        return Either.left(
          new TemplateRejected({
            code: null,
            title: `a ${parameter.type} body parameter cannot be sent through Twilio`
          })
        )
      }
      variables[parameter.parameterName ?? String(position)] = parameter.text
    }
  }
  return Either.right({ contentSid: template.name, variables })
}

const SendResponse = Schema.Struct({ sid: Schema.String.pipe(Schema.minLength(1)) })
const decodeSendResponse = Schema.decodeUnknownEither(Schema.parseJson(SendResponse))

const accepted = (body: string): Effect.Effect<Accepted, TwilioHttp.AttemptFailure> =>
  Either.match(decodeSendResponse(body), {
    onLeft: () =>
      Effect.fail(
        TwilioHttp.AttemptFailure.Ambiguous({ reason: "Twilio answered 2xx without a readable message sid" })
      ),
    onRight: (response) => Effect.succeed({ providerMessageId: response.sid, recipientWaId: null })
  })

/** Builds the gateway on the `HttpClient` in context. */
export const make = (options: Options): Effect.Effect<MessagingGateway["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = options.transformClient ? options.transformClient(base) : base
    const apiBaseUrl = trimSlash(options.apiBaseUrl ?? defaults.apiBaseUrl)
    const messagingBaseUrl = trimSlash(options.messagingBaseUrl ?? defaults.messagingBaseUrl)
    const requestTimeout = Duration.decode(options.requestTimeout ?? defaults.requestTimeout)
    const policy = retryPolicy(options.retry)
    const readReceipts = options.readReceipts ?? "typing-indicator"

    const send = (
      from: WhatsAppNumber,
      to: CustomerIdentity,
      fields: Record<string, string>
    ): Effect.Effect<Accepted, GatewayError> =>
      Effect.gen(function* () {
        const credentials = yield* credentialsOf(from)
        const recipient = yield* recipientOf(to)
        const params: Record<string, string> = {
          From: whatsappAddress(from.providerPhoneNumberId),
          To: recipient,
          ...fields
        }
        const callback = options.statusCallbackUrl(from)
        if (callback !== null) params.StatusCallback = callback
        const request = HttpClientRequest.post(
          `${apiBaseUrl}/2010-04-01/Accounts/${encodeURIComponent(credentials.accountSid)}/Messages.json`
        ).pipe(
          HttpClientRequest.basicAuth(credentials.username, credentials.password),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUrlParams(params)
        )
        const attempt = Effect.flatMap(TwilioHttp.execute(client, request, requestTimeout), (response) =>
          accepted(response.body)
        )
        // A create is not idempotent at Twilio (no idempotency key on Messages): only provable non-acceptance
        // (connection refused, 503, 20429) is retried.
        return yield* TwilioHttp.retrying(attempt, policy, { idempotent: false })
      })

    const sendText = (input: SendText) => {
      if (input.text.length === 0 || input.text.length > maxBodyLength) {
        return Effect.fail(
          new ProviderRejected({
            code: null,
            title: `text must be 1 to ${maxBodyLength} characters through Twilio, got ${input.text.length}`
          })
        )
      }
      return send(input.from, input.to, { Body: input.text }).pipe(
        Effect.withSpan("TwilioGateway.sendText", { attributes: { "parley.message_id": input.messageId } })
      )
    }

    const sendTemplate = (input: SendTemplate) =>
      Effect.flatMap(contentVariables(input.template), ({ contentSid, variables }) =>
        send(input.from, input.to, {
          ContentSid: contentSid,
          ...(Object.keys(variables).length > 0 ? { ContentVariables: JSON.stringify(variables) } : {})
        })
      ).pipe(
        Effect.withSpan("TwilioGateway.sendTemplate", {
          attributes: { "parley.message_id": input.messageId, "twilio.content_sid": input.template.name }
        })
      )

    const markRead = (input: { readonly from: WhatsAppNumber; readonly providerMessageId: string }) =>
      Effect.gen(function* () {
        const credentials = yield* credentialsOf(input.from)
        if (readReceipts === "off") return
        const request = HttpClientRequest.post(`${messagingBaseUrl}/v2/Indicators/Typing.json`).pipe(
          HttpClientRequest.basicAuth(credentials.username, credentials.password),
          HttpClientRequest.acceptJson,
          HttpClientRequest.bodyUrlParams({ messageId: input.providerMessageId, channel: "whatsapp" })
        )
        // Showing "read" twice is harmless: an ambiguous attempt may be repeated.
        yield* TwilioHttp.retrying(TwilioHttp.execute(client, request, requestTimeout), policy, { idempotent: true })
      }).pipe(Effect.withSpan("TwilioGateway.markRead"))

    // Twilio sends WhatsApp media by URL only (`MediaUrl`, fetched by Twilio); it has no upload endpoint whose ids
    // WhatsApp sends take, so a media id is refused before anything is sent.
    const sendMedia = (input: SendMedia) => {
      const { media } = input
      if (media.link === undefined) {
        return Effect.fail(
          new ProviderRejected({
            code: null,
            title: "Twilio sends WhatsApp media by https link only (MediaUrl); an uploaded media id cannot be sent"
          })
        )
      }
      return send(input.from, input.to, {
        MediaUrl: media.link,
        ...(media.caption === undefined ? {} : { Body: media.caption })
      }).pipe(
        Effect.withSpan("TwilioGateway.sendMedia", {
          attributes: { "parley.message_id": input.messageId, "twilio.media_kind": media.kind }
        })
      )
    }

    const media = MediaDownload.make(client, { apiBaseUrl, requestTimeout, retry: policy })
    // The media id carries message and media SIDs only: the URL is built from the configured API base and the
    // number's own account, so stored data never chooses where the credentials go.
    const fetchMedia = (input: { readonly from: WhatsAppNumber; readonly providerMediaId: string }) =>
      Effect.flatMap(credentialsOf(input.from), (credentials) =>
        media.fetchMedia(input.from, credentials, input.providerMediaId)
      )
    const uploadMedia = () =>
      Effect.fail(
        new ProviderRejected({
          code: null,
          title: "Twilio has no media upload for WhatsApp sends: send the file by https link instead"
        })
      )

    return MessagingGateway.of({ sendText, sendTemplate, sendMedia, fetchMedia, uploadMedia, markRead })
  })

export const layer = (options: Options): Layer.Layer<MessagingGateway, never, HttpClient.HttpClient> =>
  Layer.effect(MessagingGateway, make(options))
