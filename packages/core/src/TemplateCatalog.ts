/**
 * The port that keeps a business's message templates, as synced from the provider or entered by an admin.
 */
import { Context, type Effect, type Option } from "effect"
import type { BusinessId } from "./Ids.js"
import type { StorageError } from "./StorageError.js"
import type { Template } from "./Template.js"

export class TemplateCatalog extends Context.Tag("@parley/core/TemplateCatalog")<
  TemplateCatalog,
  {
    readonly findByKey: (businessId: BusinessId, key: string) => Effect.Effect<Option.Option<Template>, StorageError>
    /** Key order. */
    readonly list: (businessId: BusinessId) => Effect.Effect<ReadonlyArray<Template>, StorageError>
    /** Inserts or replaces the template with the same (business, key); the stored id of an existing one is kept. */
    readonly upsert: (template: Template) => Effect.Effect<Template, StorageError>
  }
>() {}
