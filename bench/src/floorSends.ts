/**
 * The floor's send: `POST /v1/messaging/conversations/:id/messages` with a text and an `Idempotency-Key`, done with
 * nothing but `pg` and `fetch`, making the statements Parley makes on PostgreSQL, in Parley's order:
 *
 * 1. the key's claim (`INSERT … ON CONFLICT DO NOTHING`, the existing row read in the same statement);
 * 2. the conversation by id, its 24-hour window checked;
 * 3. the message, its conversation's change, the key's link and the `message.sent` event: one INSERT;
 * 4. the pair's and the number's rate-limit slots in one statement (GCRA rows in `rate_limit_cells`), slept on if
 *    they wait; a number slot answered later than max(20 ms, its interval) after its statement was sent (on a
 *    connection of its own, so a wait for a connection does not count) is taken again, as Parley does;
 * 5. the request to the Cloud API (the fake), Meta's JSON;
 * 6. the mark: `parley_mark_sent` (Parley's migration 0016: the provider id's advisory lock, parked statuses
 *    drained, `message.status_updated` recorded, the key completed with the marked row), one call;
 * 7. one `pg_notify` per 5 ms window for the events recorded meanwhile (on a channel of its own, so Parley's
 *    followers are not woken by the floor).
 *
 * Parley runs the claim, the conversation's read, the message's INSERT, the rate-limit slots and the mark as named
 * prepared statements (parsed and planned once per connection); so does the floor.
 *
 * The number (its provider id and throughput) is read once and kept, as Parley keeps it; the access token is given.
 * What the floor leaves out is off the measured path: a replayed or concurrent key answers 409 (Parley replays the
 * stored outcome), and a failed provider call answers 502 without marking the message failed. The rate-limit rows
 * are the floor's own (`floor.` before Parley's key names), so the two never share a schedule.
 */
import { createHash, randomBytes } from "node:crypto"
import type pg from "pg"
import { messageJson, type Row } from "./floorJson.js"

/** A refusal: the status and the `{ message, error: { code } }` body the floor answers with. */
export class Refused {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string
  ) {}
}

export interface CloudApi {
  /** The Cloud API's base URL (the fake's), without the version. */
  readonly url: string
  readonly accessToken: string
}

const windowMs = 24 * 60 * 60 * 1000
const leaseMs = 2 * 60 * 1000
const retentionMs = 48 * 60 * 60 * 1000
const maxTextLength = 4096
/** Meta's pair rate: a burst of 45, then one per 6 s. */
const pair = { intervalMillis: 6_000, burst: 45 }
const maxQueueWaitMs = 30_000
const maxLatenessMs = 20
const notifyWindowMs = 5

const conversationColumns =
  "business_id, id, whatsapp_number_id, customer_phone, customer_user_id, customer_name, status, mode, " +
  "unread_count, assigned_user_id, last_inbound_at, last_outbound_at, last_activity_at, created_at"
const messageColumns =
  "business_id, id, conversation_id, direction, message_type, text, template, media, content, " +
  "reply_to_provider_message_id, delivery_status, provider_message_id, failure_code, failure_title, created_at"
const qualified = (alias: string, columns: string) =>
  columns
    .split(", ")
    .map((column) => `${alias}.${column}`)
    .join(", ")
const storedMessageData = (message: string, conversation?: string) =>
  `jsonb_build_object('$rows', jsonb_build_object('message', ${message}${
    conversation === undefined ? "" : `, 'conversation', ${conversation}`
  }))`

/** A time-ordered UUID (version 7), as Parley's ids are: new rows land at the end of their indexes. */
const uuidV7 = () => {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(Date.now(), 0, 6)
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Canonical JSON (keys sorted), as Parley fingerprints a request. */
const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(",")}]`
    : typeof value === "object" && value !== null
      ? `{${Object.keys(value)
          .sort()
          .map((key) => `${JSON.stringify(key)}:${canonical((value as Row)[key])}`)
          .join(",")}}`
      : JSON.stringify(value)

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const claimStatement = `
  WITH inserted AS (
    INSERT INTO idempotency_keys (business_id, key, fingerprint_sha256, locked_until, expires_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (business_id, key) DO NOTHING
    RETURNING key
  )
  SELECT true AS inserted, NULL::bytea AS fingerprint_sha256, NULL::timestamptz AS locked_until,
    NULL::timestamptz AS expires_at, NULL::uuid AS message_id, NULL::jsonb AS outcome
  FROM inserted
  UNION ALL
  SELECT false, fingerprint_sha256, locked_until, expires_at, message_id, outcome FROM idempotency_keys
  WHERE business_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM inserted)`

const conversationStatement = `SELECT ${conversationColumns} FROM conversations WHERE business_id = $1 AND id = $2`

const recordStatement = `
  WITH inserted AS (
    INSERT INTO messages (${messageColumns}) VALUES (
      $1::uuid, $2::uuid, $3::uuid, 'outbound', 'text', $4::text, NULL, NULL, NULL, NULL, 'pending', NULL, NULL,
      NULL, $5::timestamptz)
    RETURNING ${messageColumns}
  ), touched AS (
    UPDATE conversations c SET
      status = 'pending_customer',
      last_outbound_at = GREATEST(c.last_outbound_at, $5::timestamptz),
      last_activity_at = GREATEST(c.last_activity_at, $5::timestamptz),
      event_sequence = c.event_sequence + 1
    FROM inserted i
    WHERE c.business_id = i.business_id AND c.id = i.conversation_id
    RETURNING ${qualified("c", conversationColumns)}, c.event_sequence
  ), linked AS (
    UPDATE idempotency_keys k SET message_id = i.id FROM inserted i
    WHERE k.business_id = i.business_id AND k.key = $6
    RETURNING k.key
  ), recorded AS (
    INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
    SELECT $7::uuid, t.business_id, 'message.sent', t.id, t.event_sequence, $8::timestamptz,
      ${storedMessageData("to_jsonb(i)", "to_jsonb(t) - 'event_sequence'")}
    FROM touched t JOIN inserted i ON i.conversation_id = t.id
    RETURNING business_id
  )
  SELECT ${qualified("t", conversationColumns)}, (SELECT count(*) FROM recorded) AS recorded
  FROM touched t`

/** One slot of a GCRA row (see Parley's SqlRateLimitStore), `$n` numbered from `first`, run only `when` holds. */
const upsert = (first: number, when: string) => {
  const p = (i: number) => `$${first + i}`
  return `
    INSERT INTO rate_limit_cells AS c (key_sha256, tat, paused_until, touched_at)
    SELECT ${p(0)}, t.now + ${p(1)}::float8, 0, t.now FROM t WHERE ${when}
    ON CONFLICT (key_sha256) DO UPDATE
      SET tat = GREATEST(c.tat, EXCLUDED.touched_at, c.paused_until) + ${p(1)}::float8,
          touched_at = EXCLUDED.touched_at
      WHERE GREATEST(c.tat - ${p(2)}::float8, EXCLUDED.touched_at, c.paused_until) - EXCLUDED.touched_at
        <= ${p(3)}::float8
    RETURNING c.tat - ${p(1)}::float8 - c.touched_at AS base,
      GREATEST(c.touched_at, c.paused_until) - c.touched_at AS "from"`
}
const now = "(SELECT extract(epoch FROM clock_timestamp()) * 1000 AS now)"
const bothStatement = `
  WITH t AS ${now}, first AS (${upsert(1, "true")}),
  second AS (${upsert(5, `EXISTS (SELECT 1 FROM first WHERE GREATEST(first.base - $3::float8, first."from", 0) <= 0)`)})
  SELECT 1 AS which, base, "from" FROM first UNION ALL SELECT 2, base, "from" FROM second`
const oneStatement = `WITH t AS ${now}, r AS (${upsert(1, "true")}) SELECT base, "from" FROM r`

interface NumberRow {
  readonly providerPhoneNumberId: string
  readonly messagesPerSecond: number
}

export const makeSends = (pool: pg.Pool, cloudApi: CloudApi) => {
  const numbers = new Map<string, Promise<NumberRow>>()
  const numberOf = (businessId: string, id: string) => {
    const known = numbers.get(id)
    if (known !== undefined) return known
    const read = pool
      .query(
        "SELECT provider_phone_number_id, messages_per_second FROM whatsapp_numbers WHERE business_id = $1 AND id = $2",
        [businessId, id]
      )
      .then(({ rows }) => {
        const row = rows[0] as Row | undefined
        if (row === undefined) throw new Refused(404, "whatsapp_number_not_found", "WhatsApp number not found")
        return {
          providerPhoneNumberId: String(row.provider_phone_number_id),
          messagesPerSecond: Math.min(1000, Math.max(1, Number(row.messages_per_second)))
        }
      })
    numbers.set(id, read)
    read.catch(() => numbers.delete(id))
    return read
  }

  let notifyDue: ReturnType<typeof setTimeout> | undefined
  const businessesToNotify = new Set<string>()
  const notifyLater = (businessId: string) => {
    businessesToNotify.add(businessId)
    if (notifyDue !== undefined) return
    notifyDue = setTimeout(() => {
      notifyDue = undefined
      const ids = [...businessesToNotify]
      businessesToNotify.clear()
      pool
        .query("SELECT pg_notify('parley_floor_events', b) FROM unnest($1::text[]) AS b", [ids])
        .catch(() => undefined)
    }, notifyWindowMs)
  }

  /**
   * A rate-limit statement on a connection of its own, timed from when it is sent: waiting for a connection is not
   * lateness (the slot is chosen on the database's clock when the statement runs), as Parley times it.
   */
  const timedQuery = async (config: pg.QueryConfig) => {
    const client = await pool.connect()
    try {
      const sent = Date.now()
      const { rows } = await client.query(config)
      return { rows: rows as Array<Row>, sent }
    } finally {
      client.release()
    }
  }

  const waitOf = (grant: Row, tolerance: number) => Math.max(Number(grant.base) - tolerance, Number(grant.from), 0)

  /** A number slot alone, taken again until it is answered in time (at most three retakes, as Parley). */
  const numberTurn = async (key: Buffer, interval: number, retakes = 0): Promise<void> => {
    const { rows, sent } = await timedQuery({
      name: "floor_one",
      text: oneStatement,
      values: [key, interval, 0, maxQueueWaitMs]
    })
    const grant = rows[0]
    if (grant === undefined) throw new Refused(429, "rate_limited", "throughput limit (messages per second)")
    if (Date.now() - sent > Math.max(maxLatenessMs, interval) && retakes < 3) {
      return numberTurn(key, interval, retakes + 1)
    }
    const wait = waitOf(grant, 0)
    if (wait > 0) await sleep(wait)
  }

  /** The pair's slot and the number's in one statement when the pair's is due now; else the pair's wait, then the number's. */
  const turns = async (number: NumberRow, recipient: string) => {
    const interval = 1000 / number.messagesPerSecond
    const pairKey = sha256(`floor.whatsapp.pair:${number.providerPhoneNumberId}:${recipient}`)
    const numberKey = sha256(`floor.whatsapp.number:${number.providerPhoneNumberId}`)
    const pairTolerance = (pair.burst - 1) * pair.intervalMillis
    const { rows, sent } = await timedQuery({
      name: "floor_both",
      text: bothStatement,
      values: [pairKey, pair.intervalMillis, pairTolerance, maxQueueWaitMs, numberKey, interval, 0, maxQueueWaitMs]
    })
    const answered = Date.now()
    const first = rows.find((row) => row.which === 1)
    const second = rows.find((row) => row.which === 2)
    if (first === undefined) throw new Refused(429, "rate_limited", "pair rate limit (same recipient)")
    const pairWait = waitOf(first, pairTolerance)
    if (pairWait > 0) {
      await sleep(pairWait)
      return numberTurn(numberKey, interval)
    }
    if (second === undefined) throw new Refused(429, "rate_limited", "throughput limit (messages per second)")
    if (answered - sent > Math.max(maxLatenessMs, interval)) return numberTurn(numberKey, interval)
    const wait = waitOf(second, 0)
    if (wait > 0) await sleep(wait)
  }

  const release = (businessId: string, key: string) =>
    pool.query("DELETE FROM idempotency_keys WHERE business_id = $1 AND key = $2", [businessId, key])

  /** A text to the conversation, once per key; the marked message. */
  const sendText = async (businessId: string, conversationId: string, body: unknown, key: string) => {
    const text = (body as Row | null)?.text
    if (typeof text !== "string" || text.length === 0 || text.length > maxTextLength) {
      throw new Refused(400, "invalid_request", `text must be 1 to ${maxTextLength} characters`)
    }
    const claimedAt = Date.now()
    const fingerprint = sha256(canonical({ operation: "sendText", input: { conversationId, text } }))
    const claimed = await pool.query({
      name: "floor_claim",
      text: claimStatement,
      values: [
        businessId,
        key,
        fingerprint,
        new Date(claimedAt + leaseMs),
        new Date(claimedAt + retentionMs),
        new Date(claimedAt)
      ]
    })
    if ((claimed.rows[0] as Row | undefined)?.inserted !== true) {
      throw new Refused(409, "idempotency_key_in_use", "the floor does not replay a used Idempotency-Key")
    }
    try {
      const found = await pool.query({
        name: "floor_conversation",
        text: conversationStatement,
        values: [businessId, conversationId]
      })
      const conversation = found.rows[0] as Row | undefined
      if (conversation === undefined) throw new Refused(404, "conversation_not_found", "conversation not found")
      const lastInbound = conversation.last_inbound_at instanceof Date ? conversation.last_inbound_at.getTime() : null
      const at = Date.now()
      if (lastInbound === null || at >= lastInbound + windowMs) {
        throw new Refused(422, "service_window_closed", "the 24-hour customer service window is closed")
      }
      const number = await numberOf(businessId, String(conversation.whatsapp_number_id))
      const id = uuidV7()
      const recorded = await pool.query({
        name: "floor_record",
        text: recordStatement,
        values: [businessId, id, conversationId, text, new Date(at), key, uuidV7(), new Date()]
      })
      if (recorded.rows.length === 0) throw new Refused(404, "conversation_not_found", "conversation not found")
      notifyLater(businessId)
      const recipient = String(conversation.customer_phone ?? conversation.customer_user_id ?? "")
      await turns(number, recipient)
      const response = await fetch(
        `${cloudApi.url}/v24.0/${encodeURIComponent(number.providerPhoneNumberId)}/messages`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${cloudApi.accessToken}`,
            accept: "application/json",
            "content-type": "application/json"
          },
          body: JSON.stringify({
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: recipient,
            biz_opaque_callback_data: id,
            type: "text",
            text: { preview_url: false, body: text }
          })
        }
      )
      const answer = (await response.json()) as { messages?: Array<{ id?: unknown }> }
      const providerId = answer.messages?.[0]?.id
      if (!response.ok || typeof providerId !== "string") {
        throw new Refused(502, "provider_unavailable", `the Cloud API answered ${response.status}`)
      }
      const marked = await pool.query({
        name: "floor_mark",
        text: "SELECT * FROM parley_mark_sent($1, $2, $3, $4, $5, $6, $7)",
        values: [businessId, id, providerId, `${businessId}:${providerId}`, uuidV7(), new Date(), key]
      })
      const row = marked.rows[0] as Row | undefined
      if (row === undefined) throw new Refused(500, "internal", "the message was not marked")
      notifyLater(businessId)
      return messageJson(row)
    } catch (error) {
      // Parley releases a key whose send was refused before the provider had it; the floor does the same.
      if (error instanceof Refused && error.status !== 502 && error.status !== 500) {
        await release(businessId, key)
      }
      throw error
    }
  }

  return { sendText }
}
