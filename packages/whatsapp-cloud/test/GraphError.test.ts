/**
 * Graph error mapping: every code of the reference's table lands on the right core error and retry class.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck, Option } from "effect"
import * as GraphError from "../src/GraphError.js"
import * as Fixtures from "./support/fixtures.js"

const error = (code: number | null, httpStatus = 400) => ({ code, httpStatus, isTransient: false })

/** The reference's table (§7.2, §5.5) as the gateway maps it. */
const table: ReadonlyArray<readonly [number, number, GraphError.Outcome]> = [
  [0, 401, "misconfigured"],
  [190, 401, "misconfigured"],
  [3, 500, "misconfigured"],
  [10, 403, "misconfigured"],
  [200, 403, "misconfigured"],
  [299, 403, "misconfigured"],
  [4, 400, "rate-limited"],
  [80007, 400, "rate-limited"],
  [130429, 400, "rate-limited"],
  [131056, 400, "rate-limited"],
  [131048, 400, "rate-limited"],
  [1, 400, "unavailable"],
  [2, 503, "unavailable"],
  [131000, 500, "unavailable"],
  [131016, 500, "unavailable"],
  [131057, 500, "unavailable"],
  [133004, 503, "unavailable"],
  [33, 400, "misconfigured"],
  [100, 400, "rejected"],
  [131005, 403, "misconfigured"],
  [131008, 400, "rejected"],
  [131009, 400, "rejected"],
  [131021, 400, "recipient-invalid"],
  [131026, 400, "recipient-invalid"],
  [131030, 400, "recipient-invalid"],
  [131031, 403, "misconfigured"],
  [131037, 400, "misconfigured"],
  [131042, 400, "misconfigured"],
  [131045, 500, "misconfigured"],
  [131047, 400, "window-closed"],
  [131049, 400, "rejected"],
  [131050, 400, "rejected"],
  [131051, 400, "rejected"],
  [131053, 400, "rejected"],
  [130472, 400, "rejected"],
  [130497, 403, "rejected"],
  [132000, 400, "template-rejected"],
  [132001, 404, "template-rejected"],
  [132005, 400, "template-rejected"],
  [132007, 400, "template-rejected"],
  [132012, 400, "template-rejected"],
  [132015, 400, "template-rejected"],
  [132016, 400, "template-rejected"],
  [132018, 400, "template-rejected"],
  [133010, 400, "misconfigured"],
  [135000, 400, "rejected"],
  [368, 403, "misconfigured"]
]

describe("GraphError", () => {
  it("maps every code of the reference table", () => {
    for (const [code, status, outcome] of table) {
      assert.strictEqual(GraphError.outcomeOf(error(code, status)), outcome, `code ${code}`)
    }
  })

  it("classifies unknown codes by HTTP status", () => {
    assert.strictEqual(GraphError.outcomeOf(error(999999, 401)), "misconfigured")
    assert.strictEqual(GraphError.outcomeOf(error(999999, 403)), "misconfigured")
    assert.strictEqual(GraphError.outcomeOf(error(999999, 429)), "rate-limited")
    assert.strictEqual(GraphError.outcomeOf(error(null, 502)), "unavailable")
    assert.strictEqual(GraphError.outcomeOf(error(999999, 400)), "rejected")
    assert.strictEqual(GraphError.outcomeOf({ code: 999999, httpStatus: 400, isTransient: true }), "unavailable")
  })

  it("only transient and rate-limited outcomes are retried", () => {
    assert.strictEqual(GraphError.retryClassOf("unavailable"), "transient")
    assert.strictEqual(GraphError.retryClassOf("rate-limited"), "rate-limited")
    for (const outcome of [
      "window-closed",
      "recipient-invalid",
      "template-rejected",
      "misconfigured",
      "rejected"
    ] as const) {
      assert.strictEqual(GraphError.retryClassOf(outcome), "final")
    }
  })

  it("reads the error fixtures into typed core errors", () => {
    const windowClosed = GraphError.fromResponse(400, Fixtures.readRaw("error-131047.graph-error.json"))
    assert.strictEqual(windowClosed.code, 131047)
    assert.strictEqual(windowClosed.fbtraceId, "AFakeTraceId0000000000A")
    const closed = GraphError.toGatewayError(windowClosed, 0)
    assert.strictEqual(closed._tag, "ProviderWindowClosed")
    assert.match(closed._tag === "ProviderWindowClosed" ? closed.title : "", /Re-engagement message: Message failed/)

    const throttled = GraphError.toGatewayError(
      GraphError.fromResponse(400, Fixtures.readRaw("error-130429.graph-error.json")),
      GraphError.defaultRetryAfterSeconds(130429)
    )
    assert.deepStrictEqual(
      throttled._tag === "ProviderRateLimited" ? [throttled.code, throttled.retryAfterSeconds] : [],
      [130429, 1]
    )
  })

  it("a body that is not a Graph envelope still gives an error classified by status", () => {
    const html = GraphError.fromResponse(502, "<html>Bad gateway</html>")
    assert.isNull(html.code)
    assert.strictEqual(GraphError.toGatewayError(html, 0)._tag, "ProviderUnavailable")
    assert.strictEqual(GraphError.toGatewayError(GraphError.fromResponse(400, ""), 0)._tag, "ProviderRejected")
  })

  it("reads reset hints from Retry-After and X-Business-Use-Case-Usage", () => {
    const now = Date.parse("2026-01-01T10:00:00Z")
    assert.deepStrictEqual(GraphError.retryAfterFromHeaders({ "retry-after": "7" }, now), Option.some(7))
    assert.deepStrictEqual(
      GraphError.retryAfterFromHeaders({ "retry-after": "Thu, 01 Jan 2026 10:00:30 GMT" }, now),
      Option.some(30)
    )
    const usage = JSON.stringify({
      "100000000000001": [{ type: "whatsapp_business_management", call_count: 100, estimated_time_to_regain_access: 3 }]
    })
    assert.deepStrictEqual(
      GraphError.retryAfterFromHeaders({ "x-business-use-case-usage": usage }, now),
      Option.some(180)
    )
    assert.deepStrictEqual(GraphError.retryAfterFromHeaders({ "x-business-use-case-usage": "{" }, now), Option.none())
    assert.deepStrictEqual(GraphError.retryAfterFromHeaders({}, now), Option.none())
  })

  it.prop(
    "any status and body give a typed error, never a throw",
    [FastCheck.integer({ min: 300, max: 599 }), FastCheck.oneof(FastCheck.string(), FastCheck.json())],
    ([status, body]) => {
      const graphError = GraphError.fromResponse(status, body)
      const mapped = GraphError.toGatewayError(graphError, 1)
      assert.isString(mapped._tag)
    }
  )
})
