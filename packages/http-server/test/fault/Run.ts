/**
 * One fault run: N Parley processes on one fresh PostgreSQL database, the fake Cloud API behind a faulty proxy, a
 * randomized bounded load (idempotent sends with client retries, signed inbound and status webhooks), and a nemesis
 * (kill -9 and restart, pg_terminate_backend, provider faults). Then the load stops, everything settles, and the
 * final state is read through the API. Returns the history for the checker and the figures of the run.
 */
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { allScopes } from "@parley/core"
import { TestDatabase } from "@parley/postgres/testing"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { isFinal } from "./Checker.js"
import { field, request, stringField } from "./Client.js"
import { FaultyUpstream } from "./FaultyUpstream.js"
import type { Attempt, FinalEvent, FinalMessage, History, InboundMessage, Observation, SendOp } from "./History.js"
import { Meta } from "./Meta.js"
import { Nemesis } from "./Nemesis.js"
import { Pool } from "./Processes.js"
import * as Random from "./Random.js"

export interface RunOptions {
  readonly seed: number
  /** How long the load (and the nemesis) runs. */
  readonly durationMillis: number
  readonly processes: number
  /** The PostgreSQL server the fresh database is created on. */
  readonly serverUrl: string
  readonly log?: (line: string) => void
}

export interface Figures {
  readonly seed: number
  readonly processes: number
  readonly loadSeconds: number
  readonly totalSeconds: number
  readonly requests: {
    readonly sends: number
    readonly webhooks: number
    readonly reads: number
    readonly total: number
  }
  readonly keys: number
  readonly inboundMessages: number
  readonly statusWebhooks: number
  readonly faults: {
    readonly kills: number
    readonly databaseBursts: number
    readonly backendsTerminated: number
    readonly providerWindows: number
    readonly providerFaults: Readonly<Record<string, number>>
    readonly total: number
  }
  readonly logDir: string
}

/** The service's unconfirmed-send timeout in the runs (the variable and its unit live here only). */
export const unconfirmedTimeoutSeconds = 120
export const unconfirmedTimeoutEnv = { PARLEY_UNCONFIRMED_SEND_TIMEOUT: `${unconfirmedTimeoutSeconds}` }
/** How often the service's sweeper fails the unconfirmed sends past their timeout. */
const sweepPeriodSeconds = 60
/**
 * How long what a killed process had claimed stays locked: an Idempotency-Key's lease, and a webhook delivery's
 * (2 minutes each). The settle phase waits this long (and a margin) after the last kill or termination; with a
 * longer lease, what a killed process held shows up in the checks as not settled.
 */
const leaseMillis = 120_000

const adminToken = `fault-admin-${randomBytes(12).toString("hex")}`
const appSecret = "fault-app-secret"
const wabaId = "100000000000001"
const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

interface Tenant {
  readonly index: number
  readonly phoneNumberId: string
  readonly key: string
  /** Customer phone (wa_id digits) → conversation id. */
  readonly conversations: Map<string, string>
}

export const run = async (options: RunOptions): Promise<{ history: History; figures: Figures }> => {
  const log = options.log ?? (() => undefined)
  const t0 = performance.now()
  const clock = () => Math.round(performance.now() - t0)
  const random = Random.make(options.seed)
  const nemesisRandom = random.fork()
  const loadRandom = random.fork()
  const metaRandom = random.fork()
  const upstreamRandom = random.fork()
  const readerRandom = random.fork()
  const logDir = Path.join(Os.tmpdir(), `parley-fault-${options.seed}-${Date.now()}`)

  const scope = Effect.runSync(Scope.make())
  const close = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const tokens = ["fault-token-0", "fault-token-1"]
  const fake = await FakeCloudApi.start({ accessTokens: tokens, wabaId })
  const upstream = await FaultyUpstream.start(fake.url, clock, upstreamRandom)
  let pool: Pool | undefined
  try {
    const database = await Effect.runPromise(
      Layer.buildWithScope(Layer.provideMerge(TestDatabase.client(1), TestDatabase.fresh(options.serverUrl)), scope)
    )
    const fresh = Context.get(database, TestDatabase.FreshDatabase)
    const nemesisSql = Context.get(database, SqlClient.SqlClient)
    log(`database ${fresh.name}; logs in ${logDir}`)

    pool = await Pool.create({
      count: options.processes,
      logDir,
      clock,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? Os.tmpdir(),
        HOST: "127.0.0.1",
        DATABASE_URL: Redacted.value(fresh.url),
        DATABASE_POOL_SIZE: "5",
        PARLEY_SECRET_KEY: randomBytes(32).toString("base64"),
        PARLEY_ADMIN_TOKEN: adminToken,
        PARLEY_DATA_DIR: Path.join(logDir, "data"),
        PARLEY_RATE_LIMIT_PER_MINUTE: "0",
        PARLEY_LOG_LEVEL: "warn",
        WHATSAPP_API_URL: upstream.url,
        WHATSAPP_APP_SECRET: appSecret,
        WHATSAPP_VERIFY_TOKEN: "fault-verify-token",
        ...unconfirmedTimeoutEnv
      }
    })
    const processes = pool
    const urls = Array.from({ length: processes.size }, (_, i) => processes.url(i))
    await Promise.all(urls.map((_, i) => processes.start(i)))
    log(`${processes.size} processes ready at ${clock()} ms`)

    // ---------------------------------------------------------------------------------------------------------
    // Tenants and customers (no faults yet)

    const admin = async (path: string, body: unknown) => {
      const sent = await request(
        clock,
        0,
        `${urls[0]}/v1/admin${path}`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
          body: JSON.stringify(body)
        },
        30_000
      )
      const a = sent.attempt.answer
      if (a.kind !== "http" || a.status !== 201) throw new Error(`admin ${path}: ${JSON.stringify(a)}`)
      return sent.body
    }
    const customersPerTenant = Math.max(12, Math.ceil(options.durationMillis / 5_000))
    const tenants: Array<Tenant> = []
    for (const [index, token] of tokens.entries()) {
      const business = await admin("/businesses", { name: `Fault ${index}` })
      const businessId = stringField(business, "data", "id") ?? ""
      const phoneNumberId = `20000000000000${index}`
      await admin(`/businesses/${businessId}/whatsapp-numbers`, {
        phoneNumberId,
        displayPhoneNumber: "15550002222",
        wabaId,
        accessToken: token
      })
      const key = stringField(
        await admin(`/businesses/${businessId}/api-keys`, { name: "fault", scopes: allScopes }),
        "data",
        "key"
      )
      tenants.push({ index, phoneNumberId, key: key ?? "", conversations: new Map() })
    }
    const tenantByNumber = new Map(tenants.map((t) => [t.phoneNumberId, t.index]))
    const meta = new Meta({
      appSecret,
      clock,
      random: metaRandom,
      urls,
      fake,
      wabaId,
      tenantOf: (id) => tenantByNumber.get(id)
    })
    const metaRunning = meta.run(3)
    const inbound: Array<InboundMessage> = []
    let wamidCounter = 0
    const nextWamid = () => `wamid.FAULT${options.seed.toString(36)}x${(wamidCounter++).toString(36).padStart(6, "0")}`
    const phones: Array<Array<string>> = tenants.map((t) =>
      Array.from(
        { length: customersPerTenant },
        (_, i) => `2348${String(t.index)}${String(1_000_000 + i).padStart(7, "0")}`
      )
    )
    for (const t of tenants) {
      for (const phone of phones[t.index] ?? []) {
        const wamid = nextWamid()
        inbound.push({ wamid, tenant: t.index })
        meta.inbound(t.index, t.phoneNumberId, [
          { from: phone, wamid, text: `hello ${wamid}`, name: `Customer ${phone.slice(-4)}` }
        ])
      }
    }
    while (!meta.idle) await sleep(100)
    // Acknowledged is not yet processed (the worker applies deliveries after the 200): wait for every conversation.
    const seededBy = clock() + 60_000
    for (const t of tenants) {
      while (t.conversations.size < customersPerTenant && clock() < seededBy) {
        let cursor: string | null = null
        do {
          const query: string = `limit=200${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`
          const page = await request(
            clock,
            0,
            `${urls[0]}/v1/messaging/conversations?${query}`,
            { method: "GET", headers: { authorization: `Bearer ${t.key}` } },
            30_000
          )
          const data = field(page.body, "data")
          for (const c of Array.isArray(data) ? data : []) {
            const phone = stringField(c, "customerPhone")
            const id = stringField(c, "id")
            if (phone !== null && id !== null) t.conversations.set(phone.replace(/\D/g, ""), id)
          }
          cursor = stringField(page.body, "page", "nextCursor")
        } while (cursor !== null)
        if (t.conversations.size < customersPerTenant) await sleep(250)
      }
      if (t.conversations.size !== customersPerTenant)
        throw new Error(`tenant ${t.index}: ${t.conversations.size} conversations of ${customersPerTenant} customers`)
    }
    const loadStart = clock()
    const loadEnd = loadStart + options.durationMillis
    log(`${tenants.length} tenants × ${customersPerTenant} customers; load from ${loadStart} to ${loadEnd} ms`)

    // ---------------------------------------------------------------------------------------------------------
    // Load: idempotent sends with retries, inbound messages, a reader

    const sends: Array<SendOp> = []
    const reads: Array<Attempt> = []
    const observations: Array<Observation> = []
    let keyCounter = 0

    const attemptSend = async (op: SendOp, rnd: Random.Random) => {
      const slot = rnd.int(0, urls.length - 1)
      const t = tenants[op.tenant]
      const sent = await request(
        clock,
        slot,
        `${urls[slot]}/v1/messaging/conversations/${op.conversationId}/messages`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${t?.key ?? ""}`,
            "content-type": "application/json",
            "idempotency-key": op.key
          },
          body: JSON.stringify({ text: op.text })
        },
        30_000
      )
      op.attempts.push(sent.attempt)
      return sent
    }

    const sendWorker = async (rnd: Random.Random) => {
      while (clock() < loadEnd) {
        const t = rnd.pick(tenants)
        const phone = rnd.pick(phones[t.index] ?? [])
        const key = `f${options.seed}-${keyCounter++}`
        const op: SendOp = {
          key,
          text: `fault run ${options.seed} key ${key}`,
          tenant: t.index,
          conversationId: t.conversations.get(phone) ?? "",
          attempts: []
        }
        sends.push(op)
        for (let n = 0; n < 5 && clock() < loadEnd; n++) {
          const sent = await attemptSend(op, rnd)
          if (isFinal(sent.attempt.answer)) break
          const backoff = sent.retryAfterSeconds !== null ? Math.min(3_000, sent.retryAfterSeconds * 1_000) : 0
          await sleep(Math.max(backoff, rnd.int(100, Math.min(2_000, 200 * 2 ** n))))
        }
        await sleep(rnd.int(20, 300))
      }
    }

    const inboundWorker = async (rnd: Random.Random) => {
      while (clock() < loadEnd) {
        const t = rnd.pick(tenants)
        const count = rnd.int(1, 3)
        const messages = Array.from({ length: count }, () => {
          const phone = rnd.pick(phones[t.index] ?? [])
          const wamid = nextWamid()
          inbound.push({ wamid, tenant: t.index })
          return { from: phone, wamid, text: `inbound ${wamid}`, name: `Customer ${phone.slice(-4)}` }
        })
        // A message Meta already delivered, again inside another body.
        const earlier = inbound.filter((m) => m.tenant === t.index)
        if (rnd.chance(0.15) && earlier.length > count) {
          const again = rnd.pick(earlier.slice(0, -count))
          const phone = rnd.pick(phones[t.index] ?? [])
          messages.push({
            from: phone,
            wamid: again.wamid,
            text: `inbound ${again.wamid}`,
            name: `Customer ${phone.slice(-4)}`
          })
        }
        meta.inbound(t.index, t.phoneNumberId, messages, rnd.chance(0.2) ? rnd.int(1_000, 8_000) : 0)
        await sleep(rnd.int(200, 900))
      }
    }

    const readConversation = async (t: Tenant, conversationId: string, rnd: Random.Random, limit: number) => {
      const slot = rnd.int(0, urls.length - 1)
      const sent = await request(
        clock,
        slot,
        `${urls[slot]}/v1/messaging/conversations/${conversationId}?messagesLimit=${limit}`,
        { method: "GET", headers: { authorization: `Bearer ${t.key}` } },
        15_000
      )
      return sent
    }

    const readerWorker = async (rnd: Random.Random, until: () => boolean) => {
      while (!until()) {
        const t = rnd.pick(tenants)
        const conversationId = t.conversations.get(rnd.pick(phones[t.index] ?? [])) ?? ""
        const sent = await readConversation(t, conversationId, rnd, 50)
        reads.push(sent.attempt)
        const messages = field(sent.body, "data", "messages")
        if (sent.attempt.answer.kind === "http" && sent.attempt.answer.status === 200 && Array.isArray(messages)) {
          for (const m of messages) {
            const id = stringField(m, "id")
            const status = stringField(m, "deliveryStatus")
            if (stringField(m, "direction") === "outbound" && id !== null && status !== null)
              observations.push({ messageId: id, status, start: sent.attempt.start, end: sent.attempt.end })
          }
        }
        await sleep(rnd.int(100, 400))
      }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Nemesis

    const nemesis = new Nemesis({
      clock,
      log,
      processes,
      upstream,
      sql: nemesisSql,
      // Faults that leave outcomes unknown stop early enough for the lease and the unconfirmed-send timeout.
      hardFaultsUntil: loadStart + Math.max(options.durationMillis * 0.5, options.durationMillis - leaseMillis),
      until: loadEnd - Math.min(5_000, options.durationMillis * 0.1)
    })

    const readerStop = { done: false }
    const workers = [
      ...Array.from({ length: 4 }, () => sendWorker(loadRandom.fork())),
      inboundWorker(loadRandom.fork()),
      nemesis.run(nemesisRandom)
    ]
    const reader = readerWorker(readerRandom, () => readerStop.done)
    await Promise.all(workers)
    await nemesis.stopped()
    log(
      `load done at ${clock()} ms: ${sends.length} keys, ${nemesis.kills} kills, ${nemesis.databaseBursts} database bursts, ${nemesis.providerWindows} provider windows`
    )

    // ---------------------------------------------------------------------------------------------------------
    // Settle: no more faults; unresolved keys are retried until final, webhooks until acknowledged

    const settleDeadline = Math.max(
      clock() + 30_000,
      nemesis.lastAmbiguityAt + leaseMillis + 15_000,
      nemesis.lastAmbiguityAt + (unconfirmedTimeoutSeconds + sweepPeriodSeconds) * 1_000 + 20_000
    )
    const settleRandom = loadRandom.fork()
    /** Messages of ours still pending, and acknowledged inbound messages not visible yet. */
    const unsettled = async (): Promise<number> => {
      const texts = new Set(sends.map((s) => s.text))
      const final = await readFinal()
      const pending = final.filter(
        (m) => m.direction === "outbound" && m.text !== null && texts.has(m.text) && m.deliveryStatus === "pending"
      ).length
      const visible = new Set(
        final.flatMap((m) => (m.direction === "inbound" ? [`${m.tenant}/${m.providerMessageId}`] : []))
      )
      const acked = meta.deliveries.filter(
        (d) => d.kind === "inbound" && d.attempts.some((a) => a.answer.kind === "http" && a.answer.status === 200)
      )
      const missing = acked.flatMap((d) => d.wamids.filter((w) => !visible.has(`${d.tenant}/${w}`))).length
      return pending + missing
    }
    const readFinal = async (): Promise<Array<FinalMessage>> => {
      const out: Array<FinalMessage> = []
      for (const t of tenants) {
        for (const conversationId of t.conversations.values()) {
          let before: string | null = null
          do {
            const query: string = `messagesLimit=200${before === null ? "" : `&before=${encodeURIComponent(before)}`}`
            const slot = settleRandom.int(0, urls.length - 1)
            const page = await request(
              clock,
              slot,
              `${urls[slot]}/v1/messaging/conversations/${conversationId}?${query}`,
              {
                method: "GET",
                headers: { authorization: `Bearer ${t.key}` }
              },
              30_000
            )
            reads.push(page.attempt)
            if (page.attempt.answer.kind !== "http" || page.attempt.answer.status !== 200)
              throw new Error(`final read of ${conversationId}: ${JSON.stringify(page.attempt.answer)}`)
            const messages = field(page.body, "data", "messages")
            for (const m of Array.isArray(messages) ? messages : []) {
              out.push({
                tenant: t.index,
                conversationId,
                id: stringField(m, "id") ?? "",
                direction: stringField(m, "direction") ?? "",
                text: stringField(m, "text"),
                deliveryStatus: stringField(m, "deliveryStatus") ?? "",
                providerMessageId: stringField(m, "providerMessageId")
              })
            }
            before = stringField(page.body, "page", "nextCursor")
          } while (before !== null)
        }
      }
      return out
    }
    log(`settling until at most ${settleDeadline} ms`)
    while (clock() < settleDeadline) {
      const unresolved = sends.filter((op) => {
        const last = op.attempts.at(-1)
        return last === undefined || !isFinal(last.answer)
      })
      for (const op of unresolved) {
        if (clock() >= settleDeadline) break
        await attemptSend(op, settleRandom)
      }
      const stillOpen = sends.filter((op) => {
        const last = op.attempts.at(-1)
        return last === undefined || !isFinal(last.answer)
      }).length
      const open = stillOpen === 0 && meta.idle ? await unsettled() : -1
      if (open === 0) break
      log(
        `settling at ${clock()} ms: ${stillOpen} keys unresolved, ${meta.backlog} webhooks unacknowledged` +
          (open > 0 ? `, ${open} messages pending or not visible` : "")
      )
      await sleep(2_000)
    }
    readerStop.done = true
    meta.stop()
    await Promise.all([reader, metaRunning])
    const final = await readFinal()
    // Every tenant's feed from its start, a page at a time, as a consumer catching up would read it.
    const events: Array<FinalEvent> = []
    for (const t of tenants) {
      let after: string | null = null
      for (;;) {
        const query: string = `limit=1000${after === null ? "" : `&after=${encodeURIComponent(after)}`}`
        const slot = settleRandom.int(0, urls.length - 1)
        const page = await request(
          clock,
          slot,
          `${urls[slot]}/v1/messaging/events?${query}`,
          { method: "GET", headers: { authorization: `Bearer ${t.key}` } },
          30_000
        )
        reads.push(page.attempt)
        if (page.attempt.answer.kind !== "http" || page.attempt.answer.status !== 200)
          throw new Error(`event feed read: ${JSON.stringify(page.attempt.answer)}`)
        const data = field(page.body, "data")
        const rows = Array.isArray(data) ? data : []
        for (const e of rows) {
          const sequence = field(e, "sequence")
          events.push({
            tenant: t.index,
            id: stringField(e, "id") ?? "",
            type: stringField(e, "type") ?? "",
            conversationId: stringField(e, "conversationId"),
            sequence: typeof sequence === "number" ? sequence : null,
            messageId: stringField(e, "data", "message", "id"),
            deliveryStatus: stringField(e, "data", "message", "deliveryStatus")
          })
        }
        if (rows.length === 0) break
        after = stringField(page.body, "page", "nextCursor")
      }
    }
    const settledAt = clock()

    const history: History = {
      seed: options.seed,
      sends,
      deliveries: meta.deliveries,
      inbound,
      reads,
      windows: nemesis.windows,
      observations,
      final,
      events,
      providerSends: fake.sends.map((s) => ({
        text:
          typeof s.body.text === "object" && s.body.text !== null
            ? (stringField(s.body, "text", "body") ?? null)
            : null,
        wamid: s.wamid,
        callback: s.bizOpaqueCallbackData
      })),
      upstream: upstream.sends,
      exits: processes.exits,
      unconfirmedTimeoutMillis: (unconfirmedTimeoutSeconds + sweepPeriodSeconds) * 1_000,
      settledAt
    }
    const webhookAttempts = meta.deliveries.reduce((n, d) => n + d.attempts.length, 0)
    const sendAttempts = sends.reduce((n, op) => n + op.attempts.length, 0)
    const injected = Object.fromEntries(upstream.injected)
    const providerFaultCount = [...upstream.injected.values()].reduce((a, b) => a + b, 0)
    const figures: Figures = {
      seed: options.seed,
      processes: processes.size,
      loadSeconds: Math.round(options.durationMillis / 1000),
      totalSeconds: Math.round(settledAt / 1000),
      requests: {
        sends: sendAttempts,
        webhooks: webhookAttempts,
        reads: reads.length,
        total: sendAttempts + webhookAttempts + reads.length
      },
      keys: sends.length,
      inboundMessages: inbound.length,
      statusWebhooks: meta.deliveries.filter((d) => d.kind === "status").length,
      faults: {
        kills: nemesis.kills,
        databaseBursts: nemesis.databaseBursts,
        backendsTerminated: nemesis.backendsTerminated,
        providerWindows: nemesis.providerWindows,
        providerFaults: injected,
        total: nemesis.kills + nemesis.backendsTerminated + providerFaultCount
      },
      logDir
    }
    // The whole record, for a closer look at a failing run.
    Fs.writeFileSync(Path.join(logDir, "history.json"), JSON.stringify({ figures, history }, null, 1))
    return { history, figures }
  } finally {
    await pool?.stopAll()
    await upstream.close()
    await fake.close()
    await close()
  }
}
