import { assert, it } from "@effect/vitest"
import { x } from "../src/index.js"

it("smoke", () => assert.strictEqual(x, 1))
