import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { storage } from "../src/internal/storage.js"

describe("storage(operation)", () => {
  it.effect("turns a failed COMMIT or ROLLBACK (a defect carrying the SqlError) into a StorageError", () =>
    Effect.gen(function* () {
      const dropped = Effect.die(new SqlError({ cause: new Error("Connection terminated"), message: "commit" }))
      const error = yield* Effect.flip(dropped.pipe(storage("MessageRepository.markSent")))
      assert.strictEqual(error._tag, "StorageError")
      assert.strictEqual(error.operation, "MessageRepository.markSent")
    })
  )

  it.effect("leaves other defects alone: a bug stays a bug", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.die(new Error("bug")).pipe(storage("op")))
      assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Die")
    })
  )
})
