/**
 * Fills a PostgreSQL database with realistic Parley data: N businesses (a few large, many small), their numbers and
 * users, conversations (skewed activity: recent conversations are more common; names and phones from several
 * countries; statuses, modes and assignments in typical proportions) and messages (a long-tailed count per
 * conversation, both directions, delivery statuses including failures).
 *
 *   node --conditions=@parley/source --import tsx packages/postgres/scripts/generate.ts --businesses 200 --conversations 1000000 \
 *     --messages 10000000 --url postgres://postgres@127.0.0.1:5432/parley_bench
 *
 * Rows are produced inside the server by `INSERT … SELECT … FROM generate_series`, in chunks, with every "random"
 * choice a hash of the row's ordinal: runs are reproducible and nothing is shipped over the wire row by row. For a
 * large load into empty tables the secondary indexes are dropped first and rebuilt after (from their own
 * definitions in pg_indexes), and foreign-key triggers are skipped when the role may do so (rows are consistent
 * by construction). Migrations are applied first, so the schema is exactly the adapter's.
 */

import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer, Redacted } from "effect"
import * as Migrations from "../src/Migrations.js"
import * as PostgresClient from "../src/PostgresClient.js"
import * as Secrets from "../src/Secrets.js"

const { values: args } = parseArgs({
  options: {
    businesses: { type: "string", default: "100" },
    conversations: { type: "string", default: "100000" },
    messages: { type: "string", default: "1000000" },
    url: { type: "string", default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/parley_bench" },
    chunk: { type: "string", default: "100000" },
    seed: { type: "string", default: "42" }
  }
})

const businesses = Number(args.businesses)
const conversations = Number(args.conversations)
const messages = Number(args.messages)
const chunk = Number(args.chunk)
const seed = Number(args.seed)

/** A uniform number in [0, 1) from a hash of `expr` and `salt`: deterministic per row, different per column. */
const u = (expr: string, salt: string) =>
  `((hashtextextended((${expr})::text || '${salt}', ${seed}) & 2147483647)::float8 / 2147483648.0)`

const uuidOf = (kind: string, expr: string) => `md5('${kind}-' || (${expr})::text || '-${seed}')::uuid`

// Conversation g (1-based). Business sizes follow a power law: business 0 holds about a fifth of everything.
const businessIndex = (g: string) => `floor(${businesses} * power(${u(g, "b")}, 3))::int`
const conversationId = (g: string) => uuidOf("conversation", g)
const businessId = (g: string) => uuidOf("business", businessIndex(g))
// More recent activity is more common: 180 days back, squared.
const lastActivity = (g: string) => `(timestamptz '2026-06-01 12:00:00+00' - ${u(g, "t")} ^ 2 * interval '180 days')`
// Messages per conversation: exponential with the requested mean, so a few conversations are very long.
const meanMessages = Math.max(1, messages / Math.max(1, conversations))
const messageCount = (g: string) => `greatest(1, ceil(-ln(1 - ${u(g, "k")}) * ${meanMessages}))::int`

const firstNames = [
  "Ada",
  "Chinedu",
  "Amaka",
  "Tunde",
  "Ngozi",
  "Priya",
  "Arjun",
  "Ananya",
  "Wei",
  "Mei",
  "João",
  "Maria",
  "Ana",
  "Lucas",
  "Sofía",
  "Mateo",
  "Fatima",
  "Omar",
  "Aisha",
  "Yusuf",
  "Grace",
  "James",
  "Olivia",
  "Noah",
  "Emma",
  "Liam",
  "Hannah",
  "Jonas",
  "Lena",
  "Kofi",
  "Ama",
  "Zanele",
  "Thabo",
  "Sipho",
  "Ravi",
  "Deepa",
  "Hiroshi",
  "Yuki",
  "Minh",
  "Linh",
  "Carlos",
  "Lucía",
  "Diego",
  "Valentina",
  "Ahmed",
  "Layla",
  "Ivan",
  "Olga",
  "Chloé",
  "Louis"
]
const lastNames = [
  "Lovelace",
  "Okafor",
  "Adeyemi",
  "Balogun",
  "Eze",
  "Sharma",
  "Patel",
  "Iyer",
  "Zhang",
  "Li",
  "Silva",
  "Santos",
  "Oliveira",
  "García",
  "Martínez",
  "López",
  "Hassan",
  "Ali",
  "Khan",
  "Hopper",
  "Smith",
  "Johnson",
  "Brown",
  "Müller",
  "Schmidt",
  "Mensah",
  "Boateng",
  "Dlamini",
  "Nkosi",
  "Tanaka",
  "Sato",
  "Nguyen",
  "Tran",
  "Pérez",
  "Rodríguez",
  "Ibrahim",
  "Petrov",
  "Dubois",
  "Martin",
  "Rossi"
]
const countryCodes = ["234", "234", "234", "1", "44", "91", "91", "55", "52", "49", "27", "254", "62", "33"]
const phrases = [
  "Hi, is my order shipped?",
  "When will it arrive?",
  "Thanks!",
  "Can I change the delivery address?",
  "Your order has shipped.",
  "It arrives on Friday.",
  "Do you have this in blue?",
  "Payment failed, can you help?",
  "Ok 👍",
  "Here is the receipt",
  "We are open 9-5 on weekdays.",
  "Sorry for the delay!",
  "Is anyone there?",
  "Your refund was processed.",
  "Please share your order number.",
  "Great, thank you 🙏"
]

const arrayLiteral = (items: ReadonlyArray<string>) =>
  `ARRAY[${items.map((s) => `'${s.replace(/'/g, "''")}'`).join(",")}]`
const pick = (items: ReadonlyArray<string>, g: string, salt: string) =>
  `(${arrayLiteral(items)})[1 + floor(${u(g, salt)} * ${items.length})::int]`

const log = (message: string) => Effect.sync(() => console.log(`[${new Date().toISOString()}] ${message}`))

const timed = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = performance.now()
    const result = yield* effect
    yield* log(`${label}: ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return result
  })

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const secrets = yield* Secrets.make(Redacted.make(process.env.PARLEY_SECRET_KEY ?? Secrets.generateKey()))
  const started = performance.now()
  yield* log(`generating ${businesses} businesses, ${conversations} conversations, ~${messages} messages`)
  yield* Migrations.run

  // Skipping FK triggers needs superuser; without it the load is slower but the same.
  const replica = yield* Effect.either(sql`SET session_replication_role = replica`)
  const session = replica._tag === "Right" ? "FK triggers skipped (session_replication_role = replica)" : "FK checked"
  yield* sql`SET maintenance_work_mem = '512MB'`.pipe(Effect.ignore)
  yield* log(session)

  const empty = (yield* sql`SELECT NOT EXISTS (SELECT 1 FROM conversations) AS empty`)[0]?.empty === true
  const dropped: Array<{ indexdef: string; indexname: string }> = []
  if (empty) {
    const rows = yield* sql<{ indexname: string; indexdef: string }>`
      SELECT i.indexname, i.indexdef FROM pg_indexes i
      WHERE i.schemaname = 'public' AND i.tablename IN ('conversations', 'messages')
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`
    for (const row of rows) {
      yield* sql`DROP INDEX ${sql(row.indexname)}`
      dropped.push(row)
    }
    yield* log(`dropped ${dropped.length} secondary indexes for the load`)
  }

  yield* timed(
    "businesses, users, numbers",
    Effect.gen(function* () {
      yield* sql.unsafe(`
        INSERT INTO businesses (id, name, created_at)
        SELECT ${uuidOf("business", "b")}, 'Business ' || b, timestamptz '2025-01-01 00:00:00+00'
        FROM generate_series(0, ${businesses - 1}) b
        ON CONFLICT DO NOTHING`)
      yield* sql.unsafe(`
        INSERT INTO users (business_id, id, name)
        SELECT ${uuidOf("business", "b")}, ${uuidOf("user", "b || '-' || j")}, 'Agent ' || j
        FROM generate_series(0, ${businesses - 1}) b, generate_series(0, 4) j
        ON CONFLICT DO NOTHING`)
      for (let b = 0; b < businesses; b++) {
        const [row] = yield* sql.unsafe<{ business_id: string; id: string }>(
          `SELECT ${uuidOf("business", String(b))}::text AS business_id, ${uuidOf("number", String(b))}::text AS id`
        )
        if (row === undefined) continue
        const sealed = yield* secrets.seal(
          Redacted.make(`generated-token-${b}`),
          `whatsapp_numbers:${row.business_id}:${row.id}`
        )
        const providerId = String(100_000_000_000_000 + seed * 100_000 + b)
        yield* sql`
          INSERT INTO whatsapp_numbers (business_id, id, provider_phone_number_id, display_phone_number, waba_id,
            access_token_sealed)
          VALUES (${row.business_id}, ${row.id}, ${providerId}, ${`1555${String(b).padStart(7, "0")}`}, NULL, ${sealed})
          ON CONFLICT DO NOTHING`
        yield* sql`
          INSERT INTO whatsapp_number_routes (provider_phone_number_id, business_id, whatsapp_number_id)
          VALUES (${providerId}, ${row.business_id}, ${row.id}) ON CONFLICT DO NOTHING`
      }
    })
  )

  const conversationSelect = (from: number, to: number) => `
    SELECT
      ${businessId("g")} AS business_id,
      ${conversationId("g")} AS id,
      ${uuidOf("number", businessIndex("g"))} AS whatsapp_number_id,
      -- (g * 2654435761) mod 10^10 is a bijection on 0..10^10-1: every phone is distinct.
      '+' || ${pick(countryCodes, "g", "cc")} || lpad(((g::bigint * 2654435761) % 10000000000)::text, 10, '0'),
      CASE WHEN ${u("g", "nn")} < 0.06 THEN NULL
        ELSE ${pick(firstNames, "g", "fn")} || ' ' || ${pick(lastNames, "g", "ln")} END,
      CASE WHEN ${u("g", "s")} < 0.35 THEN 'open' WHEN ${u("g", "s")} < 0.6 THEN 'pending_customer'
        ELSE 'resolved' END,
      CASE WHEN ${u("g", "m")} < 0.6 THEN 'ai' ELSE 'human' END,
      CASE WHEN ${u("g", "s")} < 0.35 THEN floor(${u("g", "un")} * 6)::int ELSE 0 END,
      CASE WHEN ${u("g", "a")} < 0.45 THEN NULL
        ELSE ${uuidOf("user", `${businessIndex("g")} || '-' || floor(${u("g", "au")} * 5)::int`)} END,
      ${lastActivity("g")} - CASE WHEN ${u("g", "d")} < 0.55 THEN interval '0' ELSE interval '3 minutes' END,
      CASE WHEN ${u("g", "d")} < 0.15 THEN NULL ELSE ${lastActivity("g")} END,
      ${lastActivity("g")},
      ${lastActivity("g")} - ${u("g", "c")} * interval '60 days'
    FROM generate_series(${from}, ${to}) g`

  yield* timed(
    `conversations (${conversations})`,
    Effect.forEach(
      Array.from({ length: Math.ceil(conversations / chunk) }, (_, i) => i),
      (i) => {
        const from = i * chunk + 1
        const to = Math.min(conversations, (i + 1) * chunk)
        return sql
          .unsafe(`
            INSERT INTO conversations (business_id, id, whatsapp_number_id, customer_phone, customer_name, status,
              mode, unread_count, assigned_user_id, last_inbound_at, last_outbound_at, last_activity_at, created_at)
            ${conversationSelect(from, to)}
            ON CONFLICT DO NOTHING`)
          .pipe(Effect.zipRight(log(`  conversations ${to}/${conversations}`)))
      },
      { discard: true }
    )
  )

  // Message i of conversation g: the last one is at the conversation's last activity, earlier ones spaced back.
  const messageSelect = (from: number, to: number) => `
    SELECT
      ${businessId("g")},
      md5('message-' || g || '-' || i || '-${seed}')::uuid,
      ${conversationId("g")},
      CASE WHEN i = n OR ${u("g || '-' || i", "dir")} < 0.55 THEN 'inbound' ELSE 'outbound' END AS direction,
      CASE WHEN ${u("g || '-' || i", "ty")} < 0.9 THEN 'text' WHEN ${u("g || '-' || i", "ty")} < 0.97 THEN 'image'
        ELSE 'template' END,
      ${pick(phrases, "g || '-' || i", "tx")},
      CASE
        WHEN ${u("g || '-' || i", "dir")} < 0.55 OR i = n THEN CASE WHEN i = n THEN 'delivered' ELSE 'read' END
        WHEN ${u("g || '-' || i", "st")} < 0.03 THEN 'failed'
        WHEN ${u("g || '-' || i", "st")} < 0.25 THEN 'delivered'
        WHEN ${u("g || '-' || i", "st")} < 0.3 THEN 'sent'
        ELSE 'read' END,
      'wamid.' || md5('wamid-' || g || '-' || i || '-${seed}'),
      ${lastActivity("g")} - (n - i) * interval '7 minutes' * (0.2 + ${u("g || '-' || i", "gap")})
    FROM generate_series(${from}, ${to}) g
    CROSS JOIN LATERAL (SELECT ${messageCount("g")} AS n) counts
    CROSS JOIN LATERAL generate_series(1, counts.n) i`

  yield* timed(
    "messages",
    Effect.forEach(
      Array.from({ length: Math.ceil(conversations / chunk) }, (_, i) => i),
      (i) => {
        const from = i * chunk + 1
        const to = Math.min(conversations, (i + 1) * chunk)
        return sql
          .unsafe(`
            INSERT INTO messages (business_id, id, conversation_id, direction, message_type, text, delivery_status,
              provider_message_id, created_at)
            ${messageSelect(from, to)}
            ON CONFLICT DO NOTHING`)
          .pipe(Effect.zipRight(log(`  messages for conversations ${to}/${conversations}`)))
      },
      { discard: true }
    )
  )

  if (dropped.length > 0) {
    yield* timed(
      `rebuilt ${dropped.length} indexes`,
      Effect.forEach(dropped, (index) => timed(`  ${index.indexname}`, sql.unsafe(index.indexdef)), { discard: true })
    )
  }
  yield* timed("VACUUM ANALYZE", sql`VACUUM ANALYZE`)
  const [counts] = yield* sql<{ conversations: number; messages: number; size: string }>`
    SELECT (SELECT count(*)::int FROM conversations) AS conversations, (SELECT count(*)::int FROM messages) AS messages,
      pg_size_pretty(pg_database_size(current_database())) AS size`
  yield* log(
    `done in ${((performance.now() - started) / 1000).toFixed(1)} s: ${counts?.conversations} conversations, ` +
      `${counts?.messages} messages, database ${counts?.size}`
  )
})

program.pipe(
  Effect.provide(
    Layer.orDie(
      PostgresClient.layer({ url: Redacted.make(args.url), maxConnections: 1, applicationName: "parley-generate" })
    )
  ),
  NodeRuntime.runMain
)
