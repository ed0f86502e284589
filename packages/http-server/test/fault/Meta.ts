/**
 * Meta's side of the webhooks: signed deliveries posted to any process (as through a load balancer), retried until
 * acknowledged with a 200 (Meta retries for days), some delivered again after their 200, some messages delivered
 * again inside another body. For every send the fake accepted, status webhooks follow: some late, some repeated,
 * some out of order, a few never.
 */
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { request } from "./Client.js"
import type { WebhookDelivery } from "./History.js"
import type { Random } from "./Random.js"

export interface MetaOptions {
  readonly appSecret: string
  readonly clock: () => number
  readonly random: Random
  /** The processes' base URLs. */
  readonly urls: ReadonlyArray<string>
  readonly fake: FakeCloudApi.FakeCloudApiServer
  /** phone_number_id → tenant index. */
  readonly tenantOf: (phoneNumberId: string) => number | undefined
  readonly wabaId: string
}

interface Pending {
  readonly delivery: WebhookDelivery
  readonly raw: string
  readonly signature: string
  dueAt: number
  /** After the 200, post it once more (Meta's redelivery). */
  redeliver: boolean
}

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

export interface InboundMessage {
  readonly from: string
  readonly wamid: string
  readonly text: string
  readonly name: string
}

export class Meta {
  readonly deliveries: Array<WebhookDelivery> = []
  readonly #options: MetaOptions
  readonly #queue: Array<Pending> = []
  #nextId = 0
  #seenSends = 0
  #inFlight = 0
  #stopped = false

  constructor(options: MetaOptions) {
    this.#options = options
  }

  /** Nothing waits to be delivered or is being delivered. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#inFlight === 0
  }

  get backlog(): number {
    return this.#queue.length + this.#inFlight
  }

  #enqueue(
    tenant: number,
    kind: WebhookDelivery["kind"],
    payload: unknown,
    meta: Pick<WebhookDelivery, "wamids" | "statuses">,
    delayMillis: number
  ) {
    const raw = FakeCloudApi.metaJson(payload)
    const delivery: WebhookDelivery = { id: this.#nextId++, tenant, kind, ...meta, attempts: [] }
    this.deliveries.push(delivery)
    this.#queue.push({
      delivery,
      raw,
      signature: Webhook.sign(raw, this.#options.appSecret),
      dueAt: this.#options.clock() + delayMillis,
      redeliver: this.#options.random.chance(0.1)
    })
  }

  /** Customers write: one delivery holding these messages (of one number). */
  inbound(tenant: number, phoneNumberId: string, messages: ReadonlyArray<InboundMessage>, delayMillis = 0) {
    const payload = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: this.#options.wabaId,
          changes: [
            {
              field: "messages",
              value: {
                messaging_product: "whatsapp",
                metadata: { display_phone_number: "15550002222", phone_number_id: phoneNumberId },
                contacts: messages.map((m) => ({ profile: { name: m.name }, wa_id: m.from })),
                messages: messages.map((m) => ({
                  from: m.from,
                  id: m.wamid,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  type: "text",
                  text: { body: m.text }
                }))
              }
            }
          ]
        }
      ]
    }
    this.#enqueue(tenant, "inbound", payload, { wamids: messages.map((m) => m.wamid), statuses: [] }, delayMillis)
  }

  /** Schedules status webhooks for the sends the fake accepted since the last call. */
  followSends() {
    const sends = this.#options.fake.sends
    const random = this.#options.random
    for (; this.#seenSends < sends.length; this.#seenSends++) {
      const send = sends[this.#seenSends]
      if (send === undefined || send.bizOpaqueCallbackData === null) continue
      const tenant = this.#options.tenantOf(send.phoneNumberId)
      if (tenant === undefined) continue
      if (random.chance(0.03)) continue // Meta never reports this one.
      const roll = random.next()
      const sequence =
        roll < 0.05
          ? ["sent", "failed"]
          : roll < 0.25
            ? ["sent"]
            : roll < 0.55
              ? ["sent", "delivered"]
              : ["sent", "delivered", "read"]
      const base = Math.floor(Date.now() / 1000)
      const statusOf = (status: string, i: number) => ({
        wamid: send.wamid,
        status: status as FakeCloudApi.WebhookStatus,
        recipientId: send.to,
        bizOpaqueCallbackData: send.bizOpaqueCallbackData,
        phoneNumberId: send.phoneNumberId,
        timestamp: base + i,
        ...(status === "failed" ? { error: { code: 131026, title: "Message undeliverable" } } : {})
      })
      const meta = (statuses: ReadonlyArray<string>) => ({
        wamids: [],
        statuses: statuses.map((status) => ({ messageId: send.bizOpaqueCallbackData ?? "", status }))
      })
      if (random.chance(0.2)) {
        // One delivery carrying every status, the way Meta batches them.
        const payload = this.#options.fake.statusPayload(sequence.map(statusOf))
        this.#enqueue(tenant, "status", payload, meta(sequence), random.int(100, 3_000))
        continue
      }
      const late = random.chance(0.15)
      sequence.forEach((status, i) => {
        const payload = this.#options.fake.statusPayload([statusOf(status, i)])
        // In order by default; shuffled (out of order) often; late sometimes; repeated sometimes.
        const delay = late ? random.int(8_000, 20_000) : random.chance(0.3) ? random.int(100, 3_000) : 300 * (i + 1)
        this.#enqueue(tenant, "status", payload, meta([status]), delay)
        if (random.chance(0.15))
          this.#enqueue(tenant, "status", payload, meta([status]), delay + random.int(500, 5_000))
      })
    }
  }

  /** Delivers due webhooks with `concurrency` workers until `stop`. */
  async run(concurrency: number): Promise<void> {
    const worker = async () => {
      while (!this.#stopped) {
        this.followSends()
        const now = this.#options.clock()
        const index = this.#queue.findIndex((p) => p.dueAt <= now)
        if (index < 0) {
          await sleep(50)
          continue
        }
        const [pending] = this.#queue.splice(index, 1)
        if (pending === undefined) continue
        this.#inFlight++
        try {
          await this.#post(pending)
        } finally {
          this.#inFlight--
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  }

  stop() {
    this.#stopped = true
  }

  async #post(pending: Pending) {
    const { urls, random, clock } = this.#options
    const slot = random.int(0, urls.length - 1)
    const sent = await request(
      clock,
      slot,
      `${urls[slot]}/webhooks/whatsapp`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-hub-signature-256": pending.signature },
        body: pending.raw
      },
      10_000
    )
    pending.delivery.attempts.push(sent.attempt)
    const ok = sent.attempt.answer.kind === "http" && sent.attempt.answer.status === 200
    if (ok && !pending.redeliver) return
    const tries = pending.delivery.attempts.length
    pending.redeliver = false
    pending.dueAt = clock() + (ok ? random.int(1_000, 5_000) : Math.min(5_000, 250 * 2 ** Math.min(tries, 5)))
    this.#queue.push(pending)
  }
}
