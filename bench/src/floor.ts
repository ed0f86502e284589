/**
 * The floor: what the inbox's read paths cost with nothing but `node:http` and `pg`. It answers the same requests
 * as Parley (`GET /v1/messaging/conversations` with every filter, search and cursor, and
 * `GET /v1/messaging/conversations/:id`) with the same statements, the same JSON envelope, field for field, and the
 * same per-request work around them:
 *
 * - the API key is authenticated per request like Parley does it: the route by short id, then the key's row (two
 *   primary-key reads), the secret's SHA-256 compared in constant time, revocation and scope checked, `last_used_at`
 *   written at most once a minute;
 * - cursors are Parley's: base64url JSON of the last row's `[time, id]`, signed with an HMAC-SHA256 under the key
 *   Parley derives from `PARLEY_SECRET_KEY`, so a floor cursor and a Parley cursor are the same bytes;
 * - the pool has Parley's default size (10).
 *
 * With `--cloud-api-url` it also sends texts (`POST /v1/messaging/conversations/:id/messages`, floorSends.ts), with
 * Parley's statements, to the Cloud API (the fake) at that URL.
 *
 * Nothing else: no schema, no framework, no fibers. `test/floor.test.ts` proves the bodies deep-equal Parley's.
 *
 *   PARLEY_SECRET_KEY=… node --import tsx bench/src/floor.ts --database-url postgres://… [--port 0]
 *     [--cloud-api-url http://127.0.0.1:… --access-token …]
 *
 * prints `floor listening on http://127.0.0.1:<port>`.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import pg from "pg"
import { conversationJson, messageJson, type Row } from "./floorJson.js"
import { type CloudApi, makeSends, Refused } from "./floorSends.js"

export interface FloorOptions {
  readonly databaseUrl: string
  /** Parley's `PARLEY_SECRET_KEY`: the cursor-signing key is derived from it as Parley derives it. */
  readonly secretKey: string
  readonly port?: number
  readonly host?: string
  readonly poolSize?: number
  /** Where the floor's sends go (the fake Cloud API); without it, sends answer 404. */
  readonly cloudApi?: CloudApi
}

export interface Floor {
  readonly url: string
  readonly close: () => Promise<void>
}

const conversationColumns =
  "business_id, id, whatsapp_number_id, customer_phone, customer_name, status, mode, unread_count, " +
  "assigned_user_id, last_inbound_at, last_outbound_at, last_activity_at, created_at"
const messageColumns =
  "id, conversation_id, direction, message_type, text, template, media, content, reply_to_provider_message_id, " +
  "delivery_status, provider_message_id, failure_code, failure_title, created_at"

const lastUsedResolutionMs = 60_000
const keyPattern = /^parley_([0-9A-Za-z]{12})_([0-9A-Za-z]{43})$/
const bearerPattern = /^Bearer +(\S+) *$/i
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const phoneLike = /^[\d\s+\-()]+$/
const noDigest = Buffer.alloc(32)

interface Actor {
  readonly businessId: string
  readonly userId: string | null
}

const likeSubstring = (term: string) => `%${term.replace(/[\\%_]/g, "\\$&")}%`

/**
 * Parley's cursors: base64url JSON of `[time ISO, id]`, then `.` and 16 bytes of HMAC-SHA256 (base64url) under a key
 * derived from the secret key the way Parley derives it, so both servers hand out and accept the same cursors.
 */
export const cursors = (secretKey: string) => {
  const key = createHmac("sha256", secretKey).update("parley cursor signing v1").digest()
  const macOf = (cursor: string) =>
    createHmac("sha256", key).update(cursor).digest().subarray(0, 16).toString("base64url")
  const sign = (at: Date, id: unknown) => {
    const cursor = Buffer.from(JSON.stringify([at.toISOString(), id])).toString("base64url")
    return `${cursor}.${macOf(cursor)}`
  }
  /** `[at, id]` of a cursor this service (or Parley) signed. */
  const open = (signed: string, parameter: string): [string, string] => {
    const invalid = new Refused(400, "invalid_cursor", `the ${parameter} is not one this API returned`)
    const dot = signed.lastIndexOf(".")
    if (dot <= 0) throw invalid
    const cursor = signed.slice(0, dot)
    const given = Buffer.from(signed.slice(dot + 1))
    const expected = Buffer.from(macOf(cursor))
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid
    let position: unknown
    try {
      position = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    } catch {
      throw invalid
    }
    if (!Array.isArray(position) || typeof position[0] !== "string" || typeof position[1] !== "string") throw invalid
    return [position[0], position[1]]
  }
  return { sign, open }
}

export const start = async (options: FloorOptions): Promise<Floor> => {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 })
  const { sign, open } = cursors(options.secretKey)

  const readKey = async (shortId: string) => {
    const routes = await pool.query("SELECT business_id, api_key_id FROM api_key_routes WHERE short_id = $1", [shortId])
    const route = routes.rows[0] as Row | undefined
    return route === undefined
      ? undefined
      : ((
          await pool.query(
            "SELECT business_id, id, user_id, scopes, last_used_at, revoked_at, secret_sha256 FROM api_keys " +
              "WHERE business_id = $1 AND id = $2",
            [route.business_id, route.api_key_id]
          )
        ).rows[0] as Row | undefined)
  }
  /** Keys read once by the send route, as Parley keeps a verified key on PostgreSQL (no revocation here). */
  const keptKeys = new Map<string, Row>()
  const keptKey = async (shortId: string) => {
    const kept = keptKeys.get(shortId)
    if (kept !== undefined) return kept
    const key = await readKey(shortId)
    if (key !== undefined) keptKeys.set(shortId, key)
    return key
  }

  /**
   * The key of the request, checked; `kept`: from the keys already read (the send route) instead of reading it.
   */
  const authenticate = async (request: Http.IncomingMessage, scope: string, kept = false): Promise<Actor> => {
    const presented = bearerPattern.exec(request.headers.authorization ?? "")?.[1] ?? request.headers["x-api-key"]
    const parts = typeof presented === "string" ? keyPattern.exec(presented) : null
    if (parts === null) throw new Refused(401, "unauthorized", "the API key is not valid")
    const key = await (kept ? keptKey : readKey)(parts[1] ?? "")
    const stored =
      key?.secret_sha256 instanceof Buffer && key.secret_sha256.length === 32 ? key.secret_sha256 : noDigest
    const matches = timingSafeEqual(
      stored,
      createHash("sha256")
        .update(parts[2] ?? "", "utf8")
        .digest()
    )
    if (key === undefined || !matches || key.revoked_at !== null) {
      throw new Refused(401, "unauthorized", "the API key is not valid")
    }
    const now = new Date()
    if (!(key.last_used_at instanceof Date) || now.getTime() - key.last_used_at.getTime() >= lastUsedResolutionMs) {
      await pool.query(
        "UPDATE api_keys SET last_used_at = $3 WHERE business_id = $1 AND id = $2 " +
          "AND (last_used_at IS NULL OR last_used_at < $3)",
        [key.business_id, key.id, now]
      )
      key.last_used_at = now
    }
    if (!(Array.isArray(key.scopes) && key.scopes.includes(scope))) {
      throw new Refused(403, "forbidden", `the API key lacks the scope ${scope}`)
    }
    return { businessId: String(key.business_id), userId: key.user_id === null ? null : String(key.user_id) }
  }

  const limitOf = (raw: string | null, fallback: number) => {
    if (raw === null) return fallback
    const n = Number(raw)
    if (!/^\d+$/.test(raw) || n < 1 || n > 200) throw new Refused(400, "invalid_request", "limit must be 1 to 200")
    return n
  }

  const listConversations = async (actor: Actor, params: URLSearchParams) => {
    const limit = limitOf(params.get("limit"), 50)
    const values: Array<unknown> = [actor.businessId]
    const conditions = ["business_id = $1"]
    const equal = (column: string, value: unknown) => {
      values.push(value)
      conditions.push(`${column} = $${values.length}`)
    }
    const status = params.get("status")
    if (status !== null) equal("status", status)
    const mode = params.get("mode")
    if (mode !== null) equal("mode", mode)
    const assigned = params.get("assigned")
    if (assigned === "me") {
      if (actor.userId === null) throw new Refused(400, "invalid_request", "assigned=me needs a key with a user")
      equal("assigned_user_id", actor.userId)
    } else if (assigned === "unassigned") {
      conditions.push("assigned_user_id IS NULL")
    }
    const search = params.get("search")
    if (search !== null) {
      values.push(likeSubstring(search))
      const name = `customer_name ILIKE $${values.length}`
      const digits = search.replace(/\D+/g, "")
      if (digits.length > 0 && phoneLike.test(search)) {
        values.push(likeSubstring(digits))
        conditions.push(`(${name} OR customer_phone LIKE $${values.length})`)
      } else {
        conditions.push(name)
      }
    }
    const cursor = params.get("cursor")
    if (cursor !== null) {
      const [at, id] = open(cursor, "cursor")
      values.push(new Date(at), id)
      conditions.push(`(last_activity_at, id) < ($${values.length - 1}, $${values.length})`)
    }
    values.push(limit + 1)
    const { rows } = await pool.query(
      `SELECT ${conversationColumns} FROM conversations WHERE ${conditions.join(" AND ")} ` +
        `ORDER BY last_activity_at DESC, id DESC LIMIT $${values.length}`,
      values
    )
    const page = rows.slice(0, limit) as Array<Row>
    const last = page[page.length - 1]
    const now = Date.now()
    return {
      message: "Conversations retrieved",
      data: page.map((row) => conversationJson(row, now)),
      page: {
        nextCursor:
          rows.length > limit && last !== undefined ? sign(last.last_activity_at as Date, last.id) : (null as null)
      }
    }
  }

  const getConversation = async (actor: Actor, id: string, params: URLSearchParams) => {
    const notFound = new Refused(404, "conversation_not_found", "conversation not found")
    if (!uuidPattern.test(id)) throw notFound
    const limit = limitOf(params.get("messagesLimit"), 20)
    const before = params.get("before")
    const position = before === null ? undefined : open(before, "before")
    const found = await pool.query(
      `SELECT ${conversationColumns} FROM conversations WHERE business_id = $1 AND id = $2`,
      [actor.businessId, id]
    )
    const conversation = found.rows[0] as Row | undefined
    if (conversation === undefined) throw notFound
    const { rows } = await pool.query(
      `SELECT ${messageColumns} FROM messages WHERE business_id = $1 AND conversation_id = $2 ` +
        (position === undefined ? "" : "AND (created_at, id) < ($4, $5) ") +
        "ORDER BY created_at DESC, id DESC LIMIT $3",
      position === undefined
        ? [actor.businessId, id, limit + 1]
        : [actor.businessId, id, limit + 1, new Date(position[0]), position[1]]
    )
    const page = rows.slice(0, limit) as Array<Row>
    const last = page[page.length - 1]
    return {
      message: "Conversation retrieved",
      data: { ...conversationJson(conversation, Date.now()), messages: page.map(messageJson) },
      page: {
        nextCursor: rows.length > limit && last !== undefined ? sign(last.created_at as Date, last.id) : (null as null)
      }
    }
  }

  const sends = options.cloudApi === undefined ? undefined : makeSends(pool, options.cloudApi)
  const bodyOf = async (request: Http.IncomingMessage) => {
    const chunks: Array<Buffer> = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown
    } catch {
      throw new Refused(400, "invalid_request", "the body is not JSON")
    }
  }

  /** `POST …/messages`: a text, with its Idempotency-Key (floorSends.ts); answers 201 with the message. */
  const send = async (request: Http.IncomingMessage, conversationId: string) => {
    if (sends === undefined) throw new Refused(404, "not_found", "no such route")
    const actor = await authenticate(request, "messaging:messages:send", true)
    const key = request.headers["idempotency-key"]
    if (typeof key !== "string" || key === "") {
      throw new Refused(400, "invalid_request", "the floor sends only with an Idempotency-Key")
    }
    if (!uuidPattern.test(conversationId)) throw new Refused(404, "conversation_not_found", "conversation not found")
    const data = await sends.sendText(actor.businessId, conversationId, await bodyOf(request), key)
    return { message: "Message sent", data }
  }

  const route = async (request: Http.IncomingMessage): Promise<[number, unknown]> => {
    const url = new URL(request.url ?? "/", "http://floor")
    const path = url.pathname
    const sending = /^\/v1\/messaging\/conversations\/([^/]+)\/messages$/.exec(path)?.[1]
    if (request.method === "POST" && sending !== undefined) return [201, await send(request, sending)]
    if (request.method !== "GET" || !path.startsWith("/v1/messaging/conversations")) {
      throw new Refused(404, "not_found", "no such route")
    }
    if (path === "/v1/messaging/conversations") {
      return [
        200,
        await listConversations(await authenticate(request, "messaging:conversations:read"), url.searchParams)
      ]
    }
    const id = /^\/v1\/messaging\/conversations\/([^/]+)$/.exec(path)?.[1]
    if (id === undefined) throw new Refused(404, "not_found", "no such route")
    return [200, await getConversation(await authenticate(request, "messaging:messages:read"), id, url.searchParams)]
  }

  const answer = (response: Http.ServerResponse, status: number, body: unknown) => {
    const json = JSON.stringify(body)
    response.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(json)
    })
    response.end(json)
  }

  const server = Http.createServer((request, response) => {
    route(request).then(
      ([status, body]) => answer(response, status, body),
      (error: unknown) =>
        error instanceof Refused
          ? answer(response, error.status, { message: error.message, error: { code: error.code, details: null } })
          : answer(response, 500, { message: "internal error", error: { code: "internal", details: null } })
    )
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve))
  const address = server.address() as AddressInfo
  return {
    url: `http://${address.address}:${address.port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await pool.end()
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      "database-url": { type: "string", default: "postgres://postgres@127.0.0.1:5432/parley_bench" },
      port: { type: "string", default: "0" },
      "pool-size": { type: "string", default: "10" },
      "cloud-api-url": { type: "string" },
      "access-token": { type: "string", default: "" }
    }
  })
  const secretKey = process.env.PARLEY_SECRET_KEY
  if (secretKey === undefined || secretKey === "") {
    console.error("floor: PARLEY_SECRET_KEY is required (the cursor-signing key is derived from it)")
    process.exit(2)
  }
  const floor = await start({
    databaseUrl: values["database-url"],
    secretKey,
    port: Number(values.port),
    poolSize: Number(values["pool-size"]),
    ...(values["cloud-api-url"] === undefined
      ? {}
      : { cloudApi: { url: values["cloud-api-url"], accessToken: values["access-token"] } })
  })
  console.log(`floor listening on ${floor.url}`)
  const stop = () => void floor.close().then(() => process.exit(0))
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
}
