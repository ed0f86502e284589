/**
 * `TemplateCatalog` over a `SqlClient`: one row per (business, key), components as jsonb in Meta's format.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, Events, type Template, TemplateCatalog, TemplateStatus } from "@parley/core"
import { Array as Arr, Effect, Layer, Option, Schema } from "effect"
import { json } from "./internal/columns.js"
import { eventIds, recordEvents } from "./internal/events.js"
import { notifying } from "./internal/notifier.js"
import { decodeTemplates, templateColumns } from "./internal/rows.js"
import { storage, storageFailure } from "./internal/storage.js"

const decodePrevious = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ previous_status: Schema.NullOr(TemplateStatus) }))
)

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  /** A transaction whose recorded events wake followers once it commits (internal/notifier.ts). */
  const transaction = <A, E, R>(write: Effect.Effect<A, E, R>) => notifying(sql)(sql.withTransaction(write))
  const ids = yield* eventIds
  const columns = sql.literal(templateColumns)

  const findByKey = (businessId: BusinessId, key: string) =>
    sql`SELECT ${columns} FROM templates WHERE business_id = ${businessId} AND key = ${key}`.pipe(
      Effect.flatMap(decodeTemplates),
      Effect.map(Arr.head),
      storage("TemplateCatalog.findByKey")
    )

  const list = (businessId: BusinessId) =>
    sql`SELECT ${columns} FROM templates WHERE business_id = ${businessId} ORDER BY key`.pipe(
      Effect.flatMap(decodeTemplates),
      storage("TemplateCatalog.list")
    )

  // A status change records `template.status_updated` in the same transaction. The row is locked first, so the
  // status read is the one the upsert replaces.
  const upsert = (template: Template) =>
    Effect.gen(function* () {
      const previous = yield* sql`
        SELECT status AS previous_status FROM templates
        WHERE business_id = ${template.businessId} AND key = ${template.key}
        FOR UPDATE`.pipe(Effect.flatMap(decodePrevious))
      const rows = yield* sql`
        INSERT INTO templates (${columns})
        VALUES (
          ${template.businessId}, ${template.id}, ${template.key}, ${template.name}, ${template.language},
          ${template.category}, ${template.status}, ${template.parameterFormat}, ${json(template.components)}::jsonb
        )
        ON CONFLICT (business_id, key) DO UPDATE SET
          name = EXCLUDED.name, language = EXCLUDED.language, category = EXCLUDED.category, status = EXCLUDED.status,
          parameter_format = EXCLUDED.parameter_format, components = EXCLUDED.components, updated_at = now()
        RETURNING ${columns}`.pipe(Effect.flatMap(decodeTemplates))
      const stored = rows[0]
      if (stored === undefined) return yield* storageFailure("TemplateCatalog.upsert", "the upsert returned no row")
      const event = Events.templateStatusEvent(stored, previous[0]?.previous_status ?? null)
      yield* recordEvents(sql, ids, Option.toArray(event))
      return stored
    }).pipe(transaction, storage("TemplateCatalog.upsert"))

  return TemplateCatalog.of({ findByKey, list, upsert })
})

export const layer: Layer.Layer<TemplateCatalog, never, SqlClient.SqlClient> = Layer.effect(TemplateCatalog, make)

/**
 * Sets the review status of the templates with this provider name and language in every business with a number of
 * this WhatsApp Business Account (Meta's `message_template_status_update` webhook), each change recording
 * `template.status_updated` in the same transaction. Returns the templates whose status changed.
 */
export const applyProviderStatus = (change: {
  readonly wabaId: string
  readonly name: string
  readonly language: string
  readonly status: TemplateStatus
}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    /** A transaction whose recorded events wake followers once it commits (internal/notifier.ts). */
    const transaction = <A, E, R>(write: Effect.Effect<A, E, R>) => notifying(sql)(sql.withTransaction(write))
    const ids = yield* eventIds
    const columns = sql.literal(templateColumns)
    return yield* Effect.gen(function* () {
      const current = yield* sql`
        SELECT ${sql.literal(
          templateColumns
            .split(", ")
            .map((c) => `t.${c}`)
            .join(", ")
        )} FROM templates t
        WHERE t.name = ${change.name} AND t.language = ${change.language} AND t.status <> ${change.status}
          AND t.business_id IN (SELECT business_id FROM whatsapp_numbers WHERE waba_id = ${change.wabaId})
        ORDER BY t.business_id, t.key
        FOR UPDATE OF t`.pipe(Effect.flatMap(decodeTemplates))
      const changed: Array<Template> = []
      for (const template of current) {
        const updated = yield* sql`
          UPDATE templates SET status = ${change.status}, updated_at = now()
          WHERE business_id = ${template.businessId} AND key = ${template.key}
          RETURNING ${columns}`.pipe(Effect.flatMap(decodeTemplates))
        for (const stored of updated) {
          changed.push(stored)
          yield* recordEvents(sql, ids, Option.toArray(Events.templateStatusEvent(stored, template.status)))
        }
      }
      return changed
    }).pipe(transaction, storage("TemplateCatalog.applyProviderStatus"))
  })
