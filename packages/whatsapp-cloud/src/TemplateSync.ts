/**
 * Template sync: pages through a WABA's `GET /{version}/{waba-id}/message_templates` and upserts every template
 * into the core's `TemplateCatalog`, so sends are validated against what Meta approved.
 *
 * Keys: a template already in the catalog under the same provider name + language keeps its key (and id);
 * otherwise the key is the template's name, or `name:language` when another language already holds the name.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import {
  type BusinessId,
  type GatewayError,
  Ids,
  nextTemplateId,
  ParameterFormat,
  type StorageError,
  Template,
  TemplateCatalog,
  TemplateCategory,
  TemplateComponent,
  TemplateStatus,
  type WhatsAppNumber
} from "@parley/core"
import { Context, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import * as CloudApiGateway from "./CloudApiGateway.js"
import * as GraphHttp from "./internal/graphHttp.js"

/** A template as the listing endpoint returns it; components decode one by one. */
export const ProviderTemplate = Schema.Struct({
  id: Schema.optional(Schema.String),
  name: Schema.String,
  language: Schema.String,
  status: Schema.String,
  category: Schema.String,
  parameter_format: Schema.optional(Schema.String),
  components: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
})
export type ProviderTemplate = typeof ProviderTemplate.Type

export const TemplatePage = Schema.Struct({
  data: Schema.Array(Schema.Unknown),
  paging: Schema.optional(
    Schema.Struct({
      cursors: Schema.optional(
        Schema.Struct({ before: Schema.optional(Schema.String), after: Schema.optional(Schema.String) })
      ),
      next: Schema.optional(Schema.String)
    })
  )
})

/** The number has no WhatsApp Business Account id, so there is nothing to list. */
export class TemplateSyncUnavailable extends Schema.TaggedError<TemplateSyncUnavailable>()("TemplateSyncUnavailable", {
  reason: Schema.String
}) {}

export interface SkippedTemplate {
  readonly name: string
  readonly language: string
  readonly reason: string
}

export interface SyncResult {
  readonly upserted: ReadonlyArray<Template>
  /** Templates Parley cannot represent yet (a new category, status or component kind). */
  readonly skipped: ReadonlyArray<SkippedTemplate>
  readonly pages: number
}

export class TemplateSync extends Context.Tag("@parley/whatsapp-cloud/TemplateSync")<
  TemplateSync,
  {
    /** Lists every template of the number's WABA and upserts them into the number's business catalog. */
    readonly sync: (
      number: WhatsAppNumber
    ) => Effect.Effect<SyncResult, GatewayError | StorageError | TemplateSyncUnavailable>
  }
>() {}

export interface Options extends Pick<CloudApiGateway.Options, "baseUrl" | "apiVersion" | "requestTimeout" | "retry"> {
  /** Templates per page (Meta's `limit`, default 100). */
  readonly pageSize?: number
  /** Stops after this many pages, as a guard against a cursor loop (default 100). */
  readonly maxPages?: number
  readonly transformClient?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

const decodePage = Schema.decodeUnknownEither(Schema.parseJson(TemplatePage))
const decodeProviderTemplate = Schema.decodeUnknownEither(ProviderTemplate)
const decodeComponent = Schema.decodeUnknownEither(TemplateComponent)
const decodeCategory = Schema.decodeUnknownEither(TemplateCategory)
const decodeStatus = Schema.decodeUnknownEither(TemplateStatus)
const decodeFormat = Schema.decodeUnknownEither(ParameterFormat)

/** What a provider template becomes in the catalog, minus the id, business and key. */
export const fromProvider = (
  template: ProviderTemplate
): Either.Either<Omit<Template, "id" | "businessId" | "key">, string> =>
  Either.gen(function* () {
    const category = yield* Either.mapLeft(decodeCategory(template.category.toUpperCase()), () => {
      return `unknown category ${template.category}`
    })
    const status = yield* Either.mapLeft(decodeStatus(template.status.toUpperCase()), () => {
      return `unknown status ${template.status}`
    })
    const parameterFormat = yield* Either.mapLeft(
      decodeFormat((template.parameter_format ?? "POSITIONAL").toUpperCase()),
      () => `unknown parameter format ${template.parameter_format}`
    )
    const components = yield* Either.all(
      template.components.map((component) =>
        Either.mapLeft(decodeComponent(component), () => `unsupported component ${describeComponent(component)}`)
      )
    )
    return { name: template.name, language: template.language, category, status, parameterFormat, components }
  })

const describeComponent = (component: unknown): string => {
  if (typeof component !== "object" || component === null) return "(not an object)"
  const { type, format } = component as { readonly type?: unknown; readonly format?: unknown }
  return [type, format].filter((part) => typeof part === "string").join(" ") || "(no type)"
}

const providerKey = (name: string, language: string) => `${name}\u0000${language}`

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
): Effect.Effect<TemplateSync["Type"], never, HttpClient.HttpClient | TemplateCatalog | Ids> =>
  Effect.gen(function* () {
    const base = yield* HttpClient.HttpClient
    const client = options.transformClient ? options.transformClient(base) : base
    const catalog = yield* TemplateCatalog
    const ids = yield* Ids
    const config = CloudApiGateway.settings(options)
    const pageSize = Math.max(1, Math.min(1000, Math.floor(options.pageSize ?? 100)))
    const maxPages = Math.max(1, Math.floor(options.maxPages ?? 100))
    const fields = "id,name,language,status,category,parameter_format,components"

    const fetchPage = (number: WhatsAppNumber, wabaId: string, after: Option.Option<string>) => {
      const request = HttpClientRequest.get(
        `${config.baseUrl}/${config.apiVersion}/${encodeURIComponent(wabaId)}/message_templates`
      ).pipe(
        HttpClientRequest.setUrlParams({ fields, limit: String(pageSize) }),
        Option.match(after, {
          onNone: () => (r) => r,
          onSome: (cursor) => HttpClientRequest.setUrlParam("after", cursor)
        }),
        HttpClientRequest.bearerToken(Redacted.value(number.accessToken)),
        HttpClientRequest.acceptJson
      )
      const attempt = Effect.flatMap(GraphHttp.execute(client, request, config.requestTimeout), (response) =>
        Either.match(decodePage(response.body), {
          onLeft: () => Effect.fail(GraphHttp.AttemptFailure.Ambiguous({ reason: "unreadable template page" })),
          onRight: Effect.succeed
        })
      )
      return GraphHttp.retrying(attempt, config.retry, { idempotent: true })
    }

    const sync = (number: WhatsAppNumber) =>
      Effect.gen(function* () {
        const wabaId = number.wabaId
        if (wabaId === null) {
          return yield* new TemplateSyncUnavailable({
            reason: "the WhatsApp number has no WhatsApp Business Account id"
          })
        }
        const businessId: BusinessId = number.businessId
        const existing = yield* catalog.list(businessId)
        const byProvider = new Map(existing.map((t) => [providerKey(t.name, t.language), t] as const))
        const taken = new Set(existing.map((t) => t.key))
        const upserted: Array<Template> = []
        const skipped: Array<SkippedTemplate> = []
        let after = Option.none<string>()
        let pages = 0
        while (pages < maxPages) {
          const page = yield* fetchPage(number, wabaId, after)
          pages++
          for (const raw of page.data) {
            const decoded = decodeProviderTemplate(raw)
            if (Either.isLeft(decoded)) {
              skipped.push({ name: "", language: "", reason: "not a template: it needs a name and a language" })
              continue
            }
            const converted = fromProvider(decoded.right)
            if (Either.isLeft(converted)) {
              skipped.push({ name: decoded.right.name, language: decoded.right.language, reason: converted.left })
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
                key: known?.key ?? chooseKey(props.name, props.language, taken)
              },
              true
            )
            const saved = yield* catalog.upsert(template)
            byProvider.set(key, saved)
            taken.add(saved.key)
            upserted.push(saved)
          }
          const cursor = page.paging?.cursors?.after
          if (page.paging?.next === undefined || cursor === undefined || page.data.length === 0) break
          after = Option.some(cursor)
        }
        return { upserted, skipped, pages }
      }).pipe(Effect.withSpan("TemplateSync.sync", { attributes: { "whatsapp.waba_id": number.wabaId ?? "" } }))

    return TemplateSync.of({ sync })
  })

export const layer = (
  options: Options = {}
): Layer.Layer<TemplateSync, never, HttpClient.HttpClient | TemplateCatalog | Ids> =>
  Layer.effect(TemplateSync, make(options))
