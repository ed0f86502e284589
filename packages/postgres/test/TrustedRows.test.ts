/**
 * The read paths' fast row decoding (`internal/trusted.ts`) must agree with the row schemas: the same models for
 * every row the schema accepts, whatever the driver's spelling, and a failure for every row it rejects.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, DateTime, Effect, Either, FastCheck, Schema } from "effect"
import {
  ConversationRow,
  checkedConversations,
  checkedMessages,
  decodeConversations,
  decodeMessages,
  MessageRow
} from "../src/internal/rows.js"
import { trusted } from "../src/internal/trusted.js"

/** Rows as a driver returns them: the row schema's encoded side (timestamps as `Date`, jsonb parsed). */
const rowsOf = <A, I>(row: Schema.Schema<A, I>) =>
  FastCheck.array(Arbitrary.make(row), { maxLength: 4 }).map((rows) => rows.map((r) => Schema.encodeSync(row)(r)))

/** What a column may hold when something is off: the drivers' other spellings and values out of the domain. */
const oddValue = FastCheck.oneof(
  FastCheck.constantFrom(null, "", "x", "7", "+1234", "-1", "unknown_status", new Date(Number.NaN), [], {}),
  FastCheck.integer({ min: -3, max: 3 }),
  FastCheck.bigInt({ min: -3n, max: 3n }),
  FastCheck.double(),
  FastCheck.date()
)

/** A row with one column replaced by an odd value. */
const withOddColumn = (rows: FastCheck.Arbitrary<Array<Record<string, unknown>>>) =>
  rows
    .filter((rs) => rs.length > 0)
    .chain((rs) =>
      FastCheck.tuple(
        FastCheck.constant(rs),
        FastCheck.nat({ max: rs.length - 1 }),
        FastCheck.constantFrom(...Object.keys(rs[0] ?? {})),
        oddValue
      )
    )
    .map(([rs, index, column, value]) => rs.map((row, i) => (i === index ? { ...row, [column]: value } : row)))

/**
 * Models as plain data to compare, timestamps as epoch milliseconds. Not their schema's encoding: the schema path
 * builds models unvalidated from whatever its row schema accepted (e.g. a negative count), which may not encode.
 */
const plain = (value: unknown): unknown => {
  if (DateTime.isDateTime(value)) return value.epochMillis
  if (Array.isArray(value)) return value.map(plain)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, plain(v)]))
  }
  return value
}
const encodeConversations = plain
const encodeMessages = plain

/** Both decodings, as comparable values: `Left` for a failure, else the models' encoded form. */
const outcomes = <A>(
  fast: Effect.Effect<ReadonlyArray<A>, unknown>,
  checked: Effect.Effect<ReadonlyArray<A>, unknown>,
  encode: (models: ReadonlyArray<A>) => unknown
) => {
  const run = (effect: Effect.Effect<ReadonlyArray<A>, unknown>) =>
    Either.map(Effect.runSync(Effect.either(effect)), encode)
  return [run(fast), run(checked)] as const
}

const agree = (a: Either.Either<unknown, unknown>, b: Either.Either<unknown, unknown>) => {
  assert.strictEqual(a._tag, b._tag)
  if (Either.isRight(a) && Either.isRight(b)) assert.deepStrictEqual(a.right, b.right)
}

const conversationRows = rowsOf(ConversationRow)
const messageRows = rowsOf(MessageRow)

describe("trusted row decoding", () => {
  it.prop("conversations: the fast path gives the schema's models", { rows: conversationRows }, ({ rows }) => {
    const [fast, checked] = outcomes(decodeConversations(rows), checkedConversations(rows), encodeConversations)
    assert.isTrue(Either.isRight(checked))
    // Every row a database could hold (the count is non-negative by constraint) takes the fast path.
    if (rows.every((row) => Number(row.unread_count) >= 0)) assert.isDefined(trusted.conversations(rows))
    agree(fast, checked)
  })

  it.prop("messages: the fast path gives the schema's models", { rows: messageRows }, ({ rows }) => {
    const [fast, checked] = outcomes(decodeMessages(rows), checkedMessages(rows), encodeMessages)
    assert.isTrue(Either.isRight(checked))
    assert.isDefined(trusted.messages(rows))
    agree(fast, checked)
  })

  it.prop(
    "conversations: an odd column is decoded or refused exactly as the schema does",
    { rows: withOddColumn(conversationRows) },
    ({ rows }) => {
      agree(...outcomes(decodeConversations(rows), checkedConversations(rows), encodeConversations))
    }
  )

  it.prop(
    "messages: an odd column is decoded or refused exactly as the schema does",
    { rows: withOddColumn(messageRows) },
    ({ rows }) => {
      agree(...outcomes(decodeMessages(rows), checkedMessages(rows), encodeMessages))
    }
  )

  it("takes the fast path for the rows node-postgres returns, and leaves an int8 string to the schema", () => {
    const row = {
      business_id: "0190a3c4-0000-7000-8000-000000000001",
      id: "0190a3c4-0000-7000-8000-000000000002",
      whatsapp_number_id: "0190a3c4-0000-7000-8000-000000000003",
      customer_phone: "+2348012345678",
      customer_user_id: null,
      customer_name: "Ada",
      status: "open",
      mode: "ai",
      unread_count: 2,
      assigned_user_id: null,
      last_inbound_at: new Date("2026-01-02T03:04:05.678Z"),
      last_outbound_at: null,
      last_activity_at: new Date("2026-01-02T03:04:05.678Z"),
      created_at: new Date("2026-01-01T00:00:00.000Z")
    }
    const fast = trusted.conversations([row])
    assert.strictEqual(fast?.[0]?.unreadCount, 2)
    assert.strictEqual(fast?.[0]?.lastInboundAt?.epochMillis, Date.parse("2026-01-02T03:04:05.678Z"))
    const asString = { ...row, unread_count: "2" }
    assert.isUndefined(trusted.conversations([asString]))
    const decoded = Effect.runSync(decodeConversations([asString]))
    assert.strictEqual(decoded[0]?.unreadCount, 2)
  })
})
