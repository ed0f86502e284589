/**
 * Template sync from Twilio's Content API: pages through `GET {contentBaseUrl}/v1/Content` (following
 * `meta.next_page_url`), reads each content's WhatsApp approval (`GET /v1/Content/{sid}/ApprovalRequests`), and
 * upserts what Parley can send into the core's `TemplateCatalog`.
 *
 * Mapping: the template's provider `name` is the Content SID (`HX…`: what a send names as `ContentSid`), its key the
 * content's `friendly_name` (or `friendly_name:language` when taken), category and status from the WhatsApp
 * approval. The body's `{{1}}`, `{{2}}`… become positional variables, `{{order_id}}` named ones.
 *
 * Not mapped (skipped, with the reason in `skipped`):
 * - types other than `twilio/text`, `twilio/media`, `twilio/quick-reply` and `twilio/call-to-action`
 *   (`twilio/card`, `twilio/carousel`, `twilio/list-picker`, `twilio/catalog`, `twilio/location`, `twilio/flows`,
 *   `whatsapp/authentication`, `whatsapp/card`…): their variables live outside the body;
 * - variables outside the body (in a media URL or a button URL): Twilio's one flat variable map cannot be filled
 *   from Parley's header and button variables;
 * - positional variables not numbered 1, 2, 3… in order of appearance, mixed positional and named variables, and
 *   names that are not lower-case `a-z0-9_` (Parley's named variables);
 * - content never submitted for WhatsApp approval, or with an approval status Parley does not know.
 * A `twilio/media` template keeps only its body: the media is fixed in the content and Twilio sends it.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import {
  type BusinessId,
  type GatewayError,
  Ids,
  nextTemplateId,
  type ParameterFormat,
  placeholdersOf,
  type StorageError,
  Template,
  TemplateCatalog,
  TemplateCategory,
  TemplateComponent,
  type TemplateStatus,
  type WhatsAppNumber
} from "@parley/core"
import { Context, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import * as TwilioHttp from "./internal/twilioHttp.js"
import * as TwilioGateway from "./TwilioGateway.js"

export const Content = Schema.Struct({
  sid: Schema.String,
  friendly_name: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  language: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  types: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type Content = typeof Content.Type

export const ContentPage = Schema.Struct({
  contents: Schema.Array(Schema.Unknown),
  meta: Schema.optional(Schema.Struct({ next_page_url: Schema.optional(Schema.NullOr(Schema.String)) }))
})

export const WhatsAppApproval = Schema.Struct({
  category: Schema.optional(Schema.NullOr(Schema.String)),
  status: Schema.optional(Schema.NullOr(Schema.String)),
  name: Schema.optional(Schema.NullOr(Schema.String))
})
export type WhatsAppApproval = typeof WhatsAppApproval.Type

const ApprovalResponse = Schema.Struct({ whatsapp: Schema.optional(Schema.NullOr(WhatsAppApproval)) })

export interface SkippedTemplate {
  readonly name: string
  readonly language: string
  readonly reason: string
}

export interface SyncResult {
  readonly upserted: ReadonlyArray<Template>
  readonly skipped: ReadonlyArray<SkippedTemplate>
  readonly pages: number
}

export class TwilioTemplateSync extends Context.Tag("@parley/twilio/TwilioTemplateSync")<
  TwilioTemplateSync,
  {
    /** Lists the content of the number's Twilio account and upserts what can be sent into its business catalog. */
    readonly sync: (number: WhatsAppNumber) => Effect.Effect<SyncResult, GatewayError | StorageError>
  }
>() {}

export interface Options extends Pick<TwilioGateway.Options, "contentBaseUrl" | "requestTimeout" | "retry"> {
  /** Contents per page (`PageSize`, default 50). */
  readonly pageSize?: number
  /** Stops after this many pages, as a guard against a paging loop (default 100). */
  readonly maxPages?: number
  readonly transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

/** Twilio's WhatsApp approval statuses onto Parley's (Meta's) template statuses. */
export const approvalStatuses = {
  approved: "APPROVED",
  pending: "PENDING",
  received: "PENDING",
  rejected: "REJECTED",
  paused: "PAUSED",
  disabled: "DISABLED"
} as const satisfies Record<string, TemplateStatus>

/** The content types Parley maps, with where their body is. */
const mappedTypes = ["twilio/text", "twilio/media", "twilio/quick-reply", "twilio/call-to-action"] as const

const decodeContent = Schema.decodeUnknownEither(Content)
const decodeComponents = Schema.decodeUnknownEither(Schema.Array(TemplateComponent))
const decodeCategory = Schema.decodeUnknownEither(TemplateCategory)
const decodePage = Schema.decodeUnknownEither(Schema.parseJson(ContentPage))
const decodeApproval = Schema.decodeUnknownEither(Schema.parseJson(ApprovalResponse))

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

const namedVariable = /^[a-z_][a-z0-9_]*$/

/** The parameter format of a body's variables, or why they cannot be mapped. */
export const parameterFormatOf = (body: string): Either.Either<ParameterFormat, string> => {
  const names = placeholdersOf(body)
  if (names.length === 0) return Either.right("POSITIONAL")
  if (names.every((name) => /^\d+$/.test(name))) {
    return names.every((name, index) => name === String(index + 1))
      ? Either.right("POSITIONAL")
      : Either.left("positional variables must be numbered 1, 2, 3… in order of appearance")
  }
  if (names.every((name) => namedVariable.test(name))) return Either.right("NAMED")
  return Either.left("variables must all be positional ({{1}}) or all named in lower case ({{order_id}})")
}

const buttonsOf = (actions: unknown): Either.Either<ReadonlyArray<unknown>, string> => {
  if (!Array.isArray(actions)) return Either.right([])
  const buttons: Array<unknown> = []
  for (const action of actions) {
    if (!isRecord(action)) continue
    const type = (text(action.type) ?? "QUICK_REPLY").toUpperCase()
    const url = text(action.url)
    if (url !== undefined && placeholdersOf(url).length > 0) {
      return Either.left("a button URL has a variable, which Twilio's flat variable map cannot take from Parley")
    }
    buttons.push({
      type,
      ...(text(action.title) === undefined ? {} : { text: text(action.title) }),
      ...(url === undefined ? {} : { url }),
      ...(text(action.phone) === undefined ? {} : { phone_number: text(action.phone) })
    })
  }
  return Either.right(buttons)
}

/** What a content and its WhatsApp approval become in the catalog, minus the id, business and key. */
export const fromContent = (
  content: Content,
  approval: Option.Option<WhatsAppApproval>
): Either.Either<Omit<Template, "id" | "businessId" | "key">, string> =>
  Either.gen(function* () {
    const type = mappedTypes.find((t) => Object.hasOwn(content.types, t))
    if (type === undefined) {
      const types = Object.keys(content.types).join(", ") || "none"
      return yield* Either.left(`content type ${types} cannot be mapped onto a Parley template`)
    }
    const definition = content.types[type]
    if (!isRecord(definition)) return yield* Either.left(`${type} has no definition`)
    const body = text(definition.body)
    if (body === undefined || body.length === 0) return yield* Either.left(`${type} has no body`)
    if (type === "twilio/media") {
      const media = Array.isArray(definition.media) ? definition.media : []
      if (media.some((url) => typeof url === "string" && placeholdersOf(url).length > 0)) {
        return yield* Either.left("the media URL has a variable, which Parley cannot fill through Twilio")
      }
    }
    const parameterFormat = yield* parameterFormatOf(body)
    const buttons = yield* buttonsOf(definition.actions)
    const whatsapp = yield* Option.match(approval, {
      onNone: () => Either.left("not submitted for WhatsApp approval"),
      onSome: Either.right
    })
    const rawStatus = (whatsapp.status ?? "").toLowerCase()
    if (!Object.hasOwn(approvalStatuses, rawStatus)) {
      return yield* Either.left(`WhatsApp approval status ${JSON.stringify(whatsapp.status ?? null)} is not mapped`)
    }
    const status = approvalStatuses[rawStatus as keyof typeof approvalStatuses]
    const category = yield* Either.mapLeft(
      decodeCategory((whatsapp.category ?? "").toUpperCase()),
      () => `unknown category ${JSON.stringify(whatsapp.category ?? null)}`
    )
    const components = yield* Either.mapLeft(
      decodeComponents([{ type: "BODY", text: body }, ...(buttons.length > 0 ? [{ type: "BUTTONS", buttons }] : [])]),
      () => "the body or buttons are not storable text"
    )
    return {
      name: content.sid,
      language: content.language ?? "en",
      category,
      status,
      parameterFormat,
      components
    }
  })

/** The catalog key for a template new to the catalog, given the keys already taken. */
export const chooseKey = (name: string, language: string, taken: ReadonlySet<string>): string => {
  if (!taken.has(name)) return name
  const qualified = `${name}:${language}`
  if (!taken.has(qualified)) return qualified
  let n = 2
  while (taken.has(`${qualified}:${n}`)) n++
  return `${qualified}:${n}`
}

export const make = (
  options: Options = {}
): Effect.Effect<TwilioTemplateSync["Type"], never, HttpClient.HttpClient | TemplateCatalog | Ids> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = options.transformClient ? options.transformClient(base) : base
    const catalog = yield* TemplateCatalog
    const ids = yield* Ids
    const contentBaseUrl = (options.contentBaseUrl ?? TwilioGateway.defaults.contentBaseUrl).replace(/\/+$/, "")
    const requestTimeout = Duration.decode(options.requestTimeout ?? TwilioGateway.defaults.requestTimeout)
    const policy = TwilioGateway.retryPolicy(options.retry)
    const pageSize = Math.max(1, Math.min(500, Math.floor(options.pageSize ?? 50)))
    const maxPages = Math.max(1, Math.floor(options.maxPages ?? 100))

    const get = <A>(
      credentials: { readonly username: string; readonly password: string },
      url: string,
      decode: (body: string) => Either.Either<A, unknown>
    ) =>
      TwilioHttp.retrying(
        Effect.flatMap(
          TwilioHttp.execute(
            client,
            HttpClientRequest.get(url).pipe(
              HttpClientRequest.basicAuth(credentials.username, credentials.password),
              HttpClientRequest.acceptJson
            ),
            requestTimeout
          ),
          (response) =>
            Either.match(decode(response.body), {
              onLeft: () =>
                Effect.fail(TwilioHttp.AttemptFailure.Ambiguous({ reason: `unreadable answer from ${url}` })),
              onRight: Effect.succeed
            })
        ),
        policy,
        { idempotent: true }
      )

    /** The content's WhatsApp approval; none when it was never submitted (Twilio answers 404). */
    const approvalOf = (credentials: { readonly username: string; readonly password: string }, sid: string) =>
      get(credentials, `${contentBaseUrl}/v1/Content/${encodeURIComponent(sid)}/ApprovalRequests`, decodeApproval).pipe(
        Effect.map((response) => Option.fromNullable(response.whatsapp)),
        Effect.catchIf(
          (error) => error._tag === "ProviderMisconfigured" && error.code === 20404,
          () => Effect.succeed(Option.none<WhatsAppApproval>())
        )
      )

    const sync = (number: WhatsAppNumber) =>
      Effect.gen(function* () {
        const credentials = yield* TwilioGateway.credentialsOf(number)
        const businessId: BusinessId = number.businessId
        const existing = yield* catalog.list(businessId)
        const providerKey = (name: string, language: string) => `${name}\u0000${language}`
        const byProvider = new Map(existing.map((t) => [providerKey(t.name, t.language), t] as const))
        const taken = new Set(existing.map((t) => t.key))
        const upserted: Array<Template> = []
        const skipped: Array<SkippedTemplate> = []
        let next: string | null = `${contentBaseUrl}/v1/Content?PageSize=${pageSize}`
        let pages = 0
        while (next !== null && pages < maxPages) {
          const page: typeof ContentPage.Type = yield* get(credentials, next, decodePage)
          pages++
          for (const raw of page.contents) {
            const decoded = decodeContent(raw)
            if (Either.isLeft(decoded)) {
              skipped.push({ name: "", language: "", reason: "not a content resource: it needs a sid and types" })
              continue
            }
            const content = decoded.right
            const label = content.friendly_name ?? content.sid
            const language = content.language ?? "en"
            const approval = yield* approvalOf(credentials, content.sid)
            const converted = fromContent(content, approval)
            if (Either.isLeft(converted)) {
              skipped.push({ name: label, language, reason: converted.left })
              continue
            }
            const props = converted.right
            const key = providerKey(props.name, props.language)
            const known = byProvider.get(key)
            const template = new Template(
              {
                ...props,
                id: known?.id ?? (yield* Effect.provideService(nextTemplateId, Ids, ids)),
                businessId,
                key: known?.key ?? chooseKey(label, language, taken)
              },
              true
            )
            const saved = yield* catalog.upsert(template)
            byProvider.set(key, saved)
            taken.add(saved.key)
            upserted.push(saved)
          }
          // Twilio's next page is an absolute URL on its own host: keep the configured base (proxy, fake) instead.
          const nextUrl = page.meta?.next_page_url ?? null
          next = nextUrl === null || page.contents.length === 0 ? null : rebase(nextUrl, contentBaseUrl)
        }
        return { upserted, skipped, pages }
      }).pipe(Effect.withSpan("TwilioTemplateSync.sync"))

    return TwilioTemplateSync.of({ sync })
  })

/** `url`'s path and query on `base`. */
const rebase = (url: string, base: string): string => {
  try {
    const parsed = new URL(url)
    return `${base}${parsed.pathname}${parsed.search}`
  } catch {
    return `${base}${url.startsWith("/") ? "" : "/"}${url}`
  }
}

export const layer = (
  options: Options = {}
): Layer.Layer<TwilioTemplateSync, never, HttpClient.HttpClient | TemplateCatalog | Ids> =>
  Layer.effect(TwilioTemplateSync, make(options))
