/**
 * The admin lists: what exists, one keyset page at a time (`limit` + `cursor`, `page.nextCursor`), like the public
 * API. Numbers come without their access token, API keys without their secret.
 */
import { HttpApiBuilder } from "@effect/platform"
import { BusinessId } from "@parley/core"
import { Listing, Tenancy } from "@parley/postgres"
import { DateTime, Effect, Option, Schema } from "effect"
import { templateJson } from "./AdminHandlersLive.js"
import { Api } from "./Api.js"
import { toApiError } from "./ErrorMapping.js"

const decodeBusinessId = Schema.decodeUnknownOption(BusinessId)

/** Ids in paths that are not UUIDs are simply not found. */
const businessIdOf = (raw: string) =>
  Option.match(decodeBusinessId(raw), {
    onNone: () => Effect.fail(new Tenancy.BusinessNotFound({ businessId: raw })),
    onSome: Effect.succeed
  })

const iso = DateTime.formatIso
const isoOrNull = (t: DateTime.Utc | null) => (t === null ? null : iso(t))

const defaultLimit = 50

const pageOf = (urlParams: { readonly limit?: number | undefined; readonly cursor?: string | undefined }) => ({
  limit: urlParams.limit ?? defaultLimit,
  cursor: urlParams.cursor
})

const paged = <A, B>(message: string, page: Listing.Page<A>, toJson: (a: A) => B) => ({
  message,
  data: page.items.map(toJson),
  page: { nextCursor: Option.getOrNull(page.nextCursor) }
})

export const apiKeySummaryJson = (key: Listing.ApiKeySummary) => ({
  id: key.id,
  businessId: key.businessId,
  userId: key.userId,
  name: key.name,
  prefix: `parley_${key.shortId}_`,
  shortId: key.shortId,
  scopes: key.scopes,
  createdAt: iso(key.createdAt),
  lastUsedAt: isoOrNull(key.lastUsedAt),
  revokedAt: isoOrNull(key.revokedAt)
})

export const AdminListHandlersLive = HttpApiBuilder.group(Api, "adminLists", (handlers) =>
  Effect.gen(function* () {
    const listing = yield* Listing.Listing
    return handlers
      .handle("listBusinesses", ({ urlParams }) =>
        listing.businesses(pageOf(urlParams)).pipe(
          Effect.map((page) =>
            paged("Businesses retrieved", page, (b) => ({ id: b.id, name: b.name, createdAt: iso(b.createdAt) }))
          ),
          Effect.mapError(toApiError)
        )
      )
      .handle("listUsers", ({ path, urlParams }) =>
        Effect.flatMap(businessIdOf(path.businessId), (businessId) =>
          listing.users(businessId, pageOf(urlParams))
        ).pipe(
          Effect.map((page) =>
            paged("Users retrieved", page, (u) => ({
              id: u.id,
              businessId: u.businessId,
              name: u.name,
              createdAt: iso(u.createdAt)
            }))
          ),
          Effect.mapError(toApiError)
        )
      )
      .handle("listWhatsAppNumbers", ({ path, urlParams }) =>
        Effect.flatMap(businessIdOf(path.businessId), (businessId) =>
          listing.whatsappNumbers(businessId, pageOf(urlParams))
        ).pipe(
          Effect.map((page) =>
            paged("WhatsApp numbers retrieved", page, (n) => ({
              id: n.id,
              businessId: n.businessId,
              phoneNumberId: n.providerPhoneNumberId,
              displayPhoneNumber: n.displayPhoneNumber,
              wabaId: n.wabaId,
              messagesPerSecond: n.messagesPerSecond,
              createdAt: iso(n.createdAt)
            }))
          ),
          Effect.mapError(toApiError)
        )
      )
      .handle("listApiKeys", ({ path, urlParams }) =>
        Effect.flatMap(businessIdOf(path.businessId), (businessId) =>
          listing.apiKeys(businessId, pageOf(urlParams))
        ).pipe(
          Effect.map((page) => paged("API keys retrieved", page, apiKeySummaryJson)),
          Effect.mapError(toApiError)
        )
      )
      .handle("listTemplates", ({ path, urlParams }) =>
        Effect.flatMap(businessIdOf(path.businessId), (businessId) =>
          listing.templates(businessId, pageOf(urlParams))
        ).pipe(
          Effect.map((page) => paged("Templates retrieved", page, templateJson)),
          Effect.mapError(toApiError)
        )
      )
  })
)
