/**
 * The benchmark's database: created on demand, filled by the project's generator (`packages/postgres/scripts/
 * generate.ts`) with one business of `size` conversations of about three messages each, and kept for the next run
 * when it already holds that many. The generator seals the number's access token with `secretKey`, so a reused
 * database needs the same key: the harness uses a fixed one (this database is throwaway benchmark data).
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import pg from "pg"
import { root, sourceArgs } from "./Processes.js"

/** A fixed 32-byte key (hex) for the benchmark database only. */
export const benchSecretKey = createHash("sha256").update("parley bench: throwaway data").digest("hex")

/** The generator's seed, and the Cloud API phone number id it gives business 0 (`100000000000000 + seed·10⁵ + b`). */
const seed = 42
export const providerPhoneNumberId = String(100_000_000_000_000 + seed * 100_000)
export const displayPhoneNumber = "15550000000"
/** The access token the generator seals for business 0: the fake Cloud API must accept it. */
export const accessToken = "generated-token-0"

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1))

const adminUrl = (url: string) => {
  const admin = new URL(url)
  admin.pathname = "/postgres"
  return admin.toString()
}

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`

const withClient = async <A>(url: string, f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const drop = (url: string) =>
  withClient(adminUrl(url), (client) =>
    client.query(`DROP DATABASE IF EXISTS ${quoted(databaseName(url))} WITH (FORCE)`)
  )

/**
 * `bench_data`, a table of the harness's own: the size generated and whether the data is still as generated. The
 * write scenarios add conversations and messages, so a database they ran on is generated again next time.
 */
const pristineSize = (url: string) =>
  withClient(url, async (client) => {
    const table = await client.query("SELECT to_regclass('public.bench_data') IS NOT NULL AS exists")
    if (table.rows[0]?.exists !== true) return undefined
    const row = (await client.query("SELECT size, pristine FROM bench_data")).rows[0]
    return row?.pristine === true ? Number(row.size) : undefined
  })

/** Marks the data as changed (before a write scenario): the next run generates it again. */
export const markChanged = (url: string) =>
  withClient(url, (client) => client.query("UPDATE bench_data SET pristine = false"))

/** Makes sure `url` names a database of exactly `size` generated conversations; generates it when not. */
export const prepare = async (url: string, size: number, options: { readonly fresh: boolean }) => {
  const name = databaseName(url)
  const exists = await withClient(adminUrl(url), async (client) => {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])
    return found.rows.length > 0
  })
  if (exists && !options.fresh && (await pristineSize(url)) === size) {
    console.log(`[data] ${name}: reusing ${size.toLocaleString("en")} conversations`)
    return
  }
  if (exists) await drop(url)
  await withClient(adminUrl(url), (client) => client.query(`CREATE DATABASE ${quoted(name)}`))
  console.log(`[data] ${name}: generating ${size.toLocaleString("en")} conversations of ~3 messages`)
  const started = performance.now()
  execFileSync(
    process.execPath,
    [
      ...sourceArgs,
      "packages/postgres/scripts/generate.ts",
      "--businesses",
      "1",
      "--conversations",
      String(size),
      "--messages",
      String(size * 3),
      "--seed",
      String(seed),
      "--url",
      url
    ],
    { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, PARLEY_SECRET_KEY: benchSecretKey } }
  )
  await withClient(url, (client) =>
    client.query("CREATE TABLE bench_data AS SELECT $1::int AS size, true AS pristine", [size])
  )
  console.log(`[data] generated in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

/** The ids and positions the scenarios ask for, read from the data (never guessed). */
export interface Fixtures {
  readonly businessId: string
  readonly userId: string
  /** The business's WhatsApp number (the generator gives it one). */
  readonly whatsappNumberId: string
  /** `[last_activity_at ISO, id]` of the conversation in the middle of the list: the deep page starts after it. */
  readonly deepPosition: readonly [string, string]
  /** Conversations spread over the list, for `get`. */
  readonly conversationIds: ReadonlyArray<string>
  /** Seven digits of a real customer's phone, spaced as people type them ("511 9096"). */
  readonly phoneDigits: string
}

export const fixtures = (url: string, size: number): Promise<Fixtures> =>
  withClient(url, async (client) => {
    const business = (await client.query("SELECT id FROM businesses ORDER BY id LIMIT 1")).rows[0]
    const user = (await client.query("SELECT id FROM users WHERE business_id = $1 ORDER BY id LIMIT 1", [business?.id]))
      .rows[0]
    const number = (
      await client.query("SELECT id FROM whatsapp_numbers WHERE business_id = $1 ORDER BY id LIMIT 1", [business?.id])
    ).rows[0]
    const middle = (
      await client.query(
        "SELECT last_activity_at, id, customer_phone FROM conversations WHERE business_id = $1 " +
          "ORDER BY last_activity_at DESC, id DESC OFFSET $2 LIMIT 1",
        [business?.id, Math.floor(size / 2)]
      )
    ).rows[0]
    const step = Math.max(1, Math.floor(size / 1000))
    const spread = await client.query(
      "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM conversations WHERE business_id = $1) r " +
        "WHERE n % $2 = 0 LIMIT 1000",
      [business?.id, step]
    )
    if (
      business === undefined ||
      user === undefined ||
      number === undefined ||
      middle === undefined ||
      spread.rows.length === 0
    ) {
      throw new Error("the benchmark database has no generated business, user or conversations")
    }
    const digits = String(middle.customer_phone).replace(/\D+/g, "").slice(-7)
    return {
      businessId: String(business.id),
      userId: String(user.id),
      whatsappNumberId: String(number.id),
      deepPosition: [(middle.last_activity_at as Date).toISOString(), String(middle.id)],
      conversationIds: spread.rows.map((row) => String(row.id)),
      phoneDigits: `${digits.slice(0, 3)} ${digits.slice(3)}`
    }
  })

/** Opens the 24-hour window of `ids` (a customer wrote a minute ago), so texts to them may be sent. */
export const openWindows = (url: string, businessId: string, ids: ReadonlyArray<string>) =>
  withClient(url, (client) =>
    client.query(
      "UPDATE conversations SET last_inbound_at = now() - interval '1 minute' WHERE business_id = $1 AND id = ANY($2)",
      [businessId, ids]
    )
  )

export { withClient }
