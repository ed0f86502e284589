/**
 * `TemplateCatalog` over a `SqlClient`: one row per (business, key), components as jsonb in Meta's format.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type BusinessId, type Template, TemplateCatalog } from "@parley/core"
import { Array as Arr, Effect, Layer } from "effect"
import { json } from "./internal/columns.js"
import { decodeTemplates, templateColumns } from "./internal/rows.js"
import { storage, storageFailure } from "./internal/storage.js"

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
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

  const upsert = (template: Template) =>
    sql`
      INSERT INTO templates (${columns})
      VALUES (
        ${template.businessId}, ${template.id}, ${template.key}, ${template.name}, ${template.language},
        ${template.category}, ${template.status}, ${template.parameterFormat}, ${json(template.components)}::jsonb
      )
      ON CONFLICT (business_id, key) DO UPDATE SET
        name = EXCLUDED.name, language = EXCLUDED.language, category = EXCLUDED.category, status = EXCLUDED.status,
        parameter_format = EXCLUDED.parameter_format, components = EXCLUDED.components, updated_at = now()
      RETURNING ${columns}`.pipe(
      Effect.flatMap(decodeTemplates),
      Effect.flatMap((rows) =>
        rows[0] === undefined
          ? Effect.fail(storageFailure("TemplateCatalog.upsert", "the upsert returned no row"))
          : Effect.succeed(rows[0])
      ),
      storage("TemplateCatalog.upsert")
    )

  return TemplateCatalog.of({ findByKey, list, upsert })
})

export const layer: Layer.Layer<TemplateCatalog, never, SqlClient.SqlClient> = Layer.effect(TemplateCatalog, make)
