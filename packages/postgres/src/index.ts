/**
 * @parley/postgres: Parley's storage on PostgreSQL through `@effect/sql`, with an embedded PGlite as the zero-setup
 * default. One set of migrations and queries serves both engines.
 */
export * as ApiKeys from "./ApiKeys.js"
export * as EventNotifications from "./EventNotifications.js"
export * as Listing from "./Listing.js"
export * as Migrations from "./Migrations.js"
export * as PgliteClient from "./PgliteClient.js"
export * as PostgresClient from "./PostgresClient.js"
export * as SecretRotation from "./SecretRotation.js"
export * as Secrets from "./Secrets.js"
export * as SqlConversationRepository from "./SqlConversationRepository.js"
export * as SqlEventLog from "./SqlEventLog.js"
export * as SqlIdempotencyStore from "./SqlIdempotencyStore.js"
export * as SqlMessageRepository from "./SqlMessageRepository.js"
export * as SqlRateLimitStore from "./SqlRateLimitStore.js"
export * as SqlTemplateCatalog from "./SqlTemplateCatalog.js"
export * as SqlUserDirectory from "./SqlUserDirectory.js"
export * as SqlWhatsAppNumberDirectory from "./SqlWhatsAppNumberDirectory.js"
export * as Storage from "./Storage.js"
export * as Tenancy from "./Tenancy.js"
export * as WebhookInbox from "./WebhookInbox.js"
