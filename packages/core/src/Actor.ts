/**
 * Who is calling a use case: the business it acts for, the user behind it (if any), and its scopes.
 *
 * Scope checks live in the use cases themselves, so an embedder that calls the core directly gets the same
 * authorisation as the HTTP server.
 */
import { Effect, Option, Schema } from "effect"
import type { BusinessId, UserId } from "./Ids.js"

export const Scope = Schema.Literal(
  "messaging:conversations:read",
  "messaging:conversations:write",
  "messaging:messages:read",
  "messaging:messages:send",
  "messaging:webhooks:read",
  "messaging:webhooks:write",
  "messaging:events:read"
)
export type Scope = typeof Scope.Type

export const allScopes: ReadonlyArray<Scope> = Scope.literals

export interface Actor {
  readonly businessId: BusinessId
  /** The user an API key belongs to; `assigned=me` means this user. */
  readonly userId: Option.Option<UserId>
  readonly scopes: ReadonlySet<Scope>
}

export const makeActor = (input: {
  readonly businessId: BusinessId
  readonly userId?: UserId | null | undefined
  readonly scopes: Iterable<Scope>
}): Actor => ({
  businessId: input.businessId,
  userId: Option.fromNullable(input.userId),
  scopes: new Set(input.scopes)
})

/** The actor lacks the scope that the use case needs. */
export class MissingScope extends Schema.TaggedError<MissingScope>()("MissingScope", {
  required: Scope
}) {
  override get message() {
    return `this API key lacks the scope ${this.required}`
  }
}

export const requireScope = (actor: Actor, scope: Scope): Effect.Effect<void, MissingScope> =>
  actor.scopes.has(scope) ? Effect.void : Effect.fail(new MissingScope({ required: scope }))
