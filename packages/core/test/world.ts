/**
 * The test world for use-case tests: memory storage, the fake gateway, sequential ids, and the Inbox.
 */
import { Clock, DateTime, Effect, Layer, TestClock } from "effect"
import { type Actor, allScopes, makeActor, type Scope } from "../src/Actor.js"
import * as Ids from "../src/Ids.js"
import * as Inbox from "../src/Inbox.js"
import { TemplateCatalog } from "../src/TemplateCatalog.js"
import { FakeGateway, MemoryStorage, TestData } from "../src/testing/index.js"

/** Moves the test clock to an absolute instant. */
export const setNow = (at: DateTime.Utc) => TestClock.setTime(DateTime.toEpochMillis(at))

/** Moves the test clock forward to `at` unless it is already later: an inbound message arrives after it is written. */
export const notBefore = (at: DateTime.Utc) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => (now < DateTime.toEpochMillis(at) ? setNow(at) : Effect.void))

/** The world starts on `TestData.epoch`, the day the test data's messages are written. */
export const layer = Inbox.layer().pipe(
  Layer.provideMerge(Layer.mergeAll(MemoryStorage.layer, FakeGateway.layer, Ids.layerSequential)),
  Layer.provideMerge(Layer.effectDiscard(setNow(TestData.epoch)))
)

export const actorOf = (tenant: TestData.Tenant, scopes: ReadonlyArray<Scope> = allScopes): Actor =>
  makeActor({ businessId: tenant.businessId, userId: tenant.userId, scopes })

/** A tenant with the contract's example template in its catalog. */
export const seedWithTemplate = Effect.gen(function* () {
  const tenant = yield* TestData.seedTenant()
  const catalog = yield* TemplateCatalog
  const id = yield* Ids.nextTemplateId
  yield* catalog.upsert(TestData.template({ id, businessId: tenant.businessId }))
  return tenant
})
