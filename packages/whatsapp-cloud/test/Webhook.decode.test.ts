/**
 * Webhooks: decoding of every fixture, every message type, statuses and batched payloads, and template status
 * changes.
 */
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Either, Option } from "effect"
import * as Webhook from "../src/Webhook.js"
import * as Fixtures from "./support/fixtures.js"
import { decodeRight, envelope, only } from "./support/webhooks.js"

describe("Webhook.decode: the fixtures", () => {
  it("decodes every fixture the reference ships", () => {
    for (const name of Fixtures.fixtureNames()) {
      if (name === "webhook-status-sequence.json") {
        for (const delivery of Fixtures.statusSequence().deliveries)
          assert.strictEqual(decodeRight(delivery.body).length, 1)
      } else if (name === "webhook-verification-and-signature.json") {
        assert.isTrue(Either.isRight(Webhook.decode(Fixtures.signatureFixture().signature.rawBody)))
      } else if (name.startsWith("webhook-")) {
        assert.isTrue(Either.isRight(Webhook.decode(Fixtures.readRaw(name))), name)
      } else {
        // Send requests/responses and Graph errors are decoded by MessagePayload.test.ts and GraphError.test.ts.
        assert.match(name, /^(send-|error-)/, `a new fixture needs a decoding test: ${name}`)
      }
    }
  })

  it("an inbound text becomes one InboundMessage for the number, with the window's timestamp", () => {
    const batch = only(decodeRight(Fixtures.read("webhook-inbound-text.json")))
    assert.strictEqual(batch.providerPhoneNumberId, "200000000000002")
    assert.strictEqual(batch.displayPhoneNumber, "15550002222")
    assert.strictEqual(batch.wabaId, "100000000000001")
    assert.deepStrictEqual(batch.statuses, [])
    assert.deepStrictEqual(batch.skipped, [])
    const message = only(batch.inbound)
    assert.strictEqual(message.providerMessageId, "wamid.HBgLMTU1NTAwMDExMTEVAgASGBQzQUZBS0UwMDAwMDAwMDAwMDAwMQA=")
    assert.deepStrictEqual(message.customer.phone, Option.some("+15550001111"))
    assert.isTrue(Option.isNone(message.customer.userId))
    assert.deepStrictEqual(message.customerName, Option.some("Ada Example"))
    assert.strictEqual(DateTime.formatIso(message.timestamp), "2026-01-01T10:00:00.000Z")
    assert.strictEqual(message.messageType, "text")
    assert.strictEqual(message.text, "Hi, where is my order A-1001? 📦")
    assert.isNull(message.media)
    assert.isNull(message.replyToProviderMessageId)
  })

  it("the signed raw body decodes to the same messages as the pretty-printed fixture", () => {
    const raw = Webhook.decode(Fixtures.signatureFixture().signature.rawBody)
    assert.deepStrictEqual(raw, Either.right(decodeRight(Fixtures.read("webhook-inbound-text.json"))))
  })

  it("an inbound image keeps its media reference, caption and the message it replies to", () => {
    const message = only(only(decodeRight(Fixtures.read("webhook-inbound-image.json"))).inbound)
    assert.strictEqual(message.messageType, "image")
    assert.strictEqual(message.text, "The box arrived damaged")
    assert.strictEqual(message.replyToProviderMessageId, "wamid.HBgLMTU1NTAwMDExMTEVAgARGBJGQUtFT1VUMDAwMDAwMDAwMDEA")
    assert.strictEqual(message.media?.providerMediaId, "300000000000003")
    assert.strictEqual(message.media?.mimeType, "image/jpeg")
    assert.strictEqual(message.media?.sha256, "q3Ys0cUO0n9VZ3aRwJ8m1ZQ2sWmFz5Xo3hQkzJmQyWk=")
    assert.match(message.media?.url ?? "", /^https:\/\/lookaside\.fbsbx\.com\//)
    assert.isNull(message.media?.filename)
  })

  it("the status sequence decodes in arrival order, the failure with its code", () => {
    const statuses = Fixtures.statusSequence().deliveries.map((d) => only(only(decodeRight(d.body)).statuses))
    assert.deepStrictEqual(
      statuses.map((s) => s.status),
      ["sent", "read", "delivered", "read", "failed"]
    )
    assert.deepStrictEqual(
      statuses.map((s) => DateTime.toEpochMillis(s.timestamp) / 1000),
      [1767261660, 1767261675, 1767261662, 1767261675, 1767351602]
    )
    const failed = statuses[4]
    assert.strictEqual(failed?.providerMessageId, "wamid.HBgLMTU1NTAwMDExMTEVAgARGBJGQUtFT1VUMDAwMDAwMDAwMDIA")
    assert.deepStrictEqual(
      Option.map(failed?.failure ?? Option.none(), (f) => [f.code, f.title]),
      Option.some([131047, "Re-engagement message"])
    )
    assert.isTrue(statuses.slice(0, 4).every((s) => Option.isNone(s.failure) && Option.isNone(s.messageId)))
  })
})

describe("Webhook.decode: every message type", () => {
  const base = (id: string, type: string, extra: Record<string, unknown>) => ({
    from: "15550001111",
    id: `wamid.${id}`,
    timestamp: "1767261600",
    type,
    ...extra
  })
  const media = { id: "300000000000009", mime_type: "application/octet-stream", sha256: "abc=" }
  const messages = [
    base("text", "text", { text: { body: "hello" } }),
    base("image", "image", { image: { ...media, mime_type: "image/jpeg", caption: "photo" } }),
    base("audio", "audio", { audio: { ...media, mime_type: "audio/ogg; codecs=opus", voice: true } }),
    base("video", "video", { video: { ...media, mime_type: "video/mp4", caption: "clip" } }),
    base("document", "document", { document: { ...media, mime_type: "application/pdf", filename: "invoice.pdf" } }),
    base("sticker", "sticker", { sticker: { ...media, mime_type: "image/webp", animated: false } }),
    base("location", "location", {
      location: { latitude: 6.45, longitude: 3.39, name: "Lagos office", address: "1 Marina" }
    }),
    base("contacts", "contacts", {
      contacts: [
        {
          name: { formatted_name: "Grace Hopper" },
          phones: [{ phone: "+1 555 000 3333", wa_id: "15550003333", type: "CELL" }]
        }
      ]
    }),
    base("button_reply", "interactive", {
      interactive: { type: "button_reply", button_reply: { id: "yes", title: "Yes" } }
    }),
    base("list_reply", "interactive", {
      interactive: { type: "list_reply", list_reply: { id: "slot-2", title: "Tuesday", description: "10:00" } }
    }),
    base("nfm_reply", "interactive", {
      interactive: { type: "nfm_reply", nfm_reply: { name: "flow", body: "Sent", response_json: '{"a":1}' } }
    }),
    base("call_permission", "interactive", {
      interactive: { type: "call_permission_reply", call_permission_reply: { response: "accept" } }
    }),
    base("button", "button", {
      button: { payload: "ORDER_A-1001_HELP", text: "Help" },
      context: { from: "15550002222", id: "wamid.template" }
    }),
    base("reaction", "reaction", { reaction: { message_id: "wamid.ours", emoji: "👍" } }),
    base("reaction_removed", "reaction", { reaction: { message_id: "wamid.ours" } }),
    base("order", "order", {
      order: {
        catalog_id: "cat-1",
        text: "for Friday",
        product_items: [{ product_retailer_id: "sku-1", quantity: 2, item_price: 9.5, currency: "USD" }]
      }
    }),
    base("system", "system", {
      system: { body: "Ada changed her number", type: "user_changed_number", wa_id: "15550004444" }
    }),
    base("unsupported", "unsupported", {
      errors: [{ code: 131051, title: "Message type unknown", message: "Message type unknown" }],
      unsupported: { type: "poll" }
    }),
    base("welcome", "request_welcome", {}),
    base("edit", "edit", {
      edit: { original_message_id: "wamid.text", message: { type: "text", text: { body: "hello!" } } }
    }),
    base("future", "hologram", { hologram: { frames: 3 } }),
    base("broken_image", "image", { image: { caption: "no id" } }),
    base("referral", "text", {
      text: { body: "I saw your ad" },
      referral: { source_url: "https://fb.me/ad", source_id: "ad-1", source_type: "ad", ctwa_clid: "clid-1" },
      context: { forwarded: true }
    })
  ]
  const batch = only(
    decodeRight(envelope({ contacts: [{ profile: { name: "Ada Example" }, wa_id: "15550001111" }], messages }))
  )
  const byId = (id: string) => {
    const message = batch.inbound.find((m) => m.providerMessageId === `wamid.${id}`)
    if (message === undefined) throw new Error(`no message ${id}`)
    return message
  }

  it("decodes every message of the change, none skipped", () => {
    assert.strictEqual(batch.inbound.length, messages.length)
    assert.deepStrictEqual(batch.skipped, [])
    assert.isTrue(batch.inbound.every((m) => Option.getOrNull(m.customerName) === "Ada Example"))
  })

  it("maps each type to the core message type", () => {
    const types = Object.fromEntries(batch.inbound.map((m) => [m.providerMessageId.slice(6), m.messageType]))
    assert.deepStrictEqual(types, {
      text: "text",
      image: "image",
      audio: "audio",
      video: "video",
      document: "document",
      sticker: "sticker",
      location: "location",
      contacts: "contacts",
      button_reply: "interactive",
      list_reply: "interactive",
      nfm_reply: "interactive",
      call_permission: "interactive",
      button: "button",
      reaction: "reaction",
      reaction_removed: "reaction",
      order: "order",
      system: "system",
      unsupported: "unsupported",
      welcome: "unsupported",
      edit: "unsupported",
      future: "unsupported",
      broken_image: "unsupported",
      referral: "text"
    })
  })

  it("keeps text, media and type-specific content", () => {
    assert.strictEqual(byId("image").text, "photo")
    assert.strictEqual(byId("document").media?.filename, "invoice.pdf")
    assert.deepStrictEqual(byId("audio").content, { voice: true })
    assert.deepStrictEqual(byId("sticker").content, { animated: false })
    assert.strictEqual(byId("location").text, "Lagos office")
    assert.deepStrictEqual(byId("location").content, {
      location: { latitude: 6.45, longitude: 3.39, name: "Lagos office", address: "1 Marina" }
    })
    assert.strictEqual(((byId("contacts").content?.contacts as ReadonlyArray<unknown>) ?? []).length, 1)
    assert.strictEqual(byId("button_reply").text, "Yes")
    assert.strictEqual(byId("list_reply").text, "Tuesday")
    assert.strictEqual(byId("nfm_reply").text, "Sent")
    assert.strictEqual(byId("button").text, "Help")
    assert.strictEqual(byId("button").replyToProviderMessageId, "wamid.template")
    assert.deepStrictEqual(byId("button").content, { button: { payload: "ORDER_A-1001_HELP", text: "Help" } })
    assert.strictEqual(byId("reaction").text, "👍")
    assert.strictEqual(byId("reaction").replyToProviderMessageId, "wamid.ours")
    assert.isNull(byId("reaction_removed").text)
    assert.strictEqual(byId("order").text, "for Friday")
    assert.strictEqual(byId("system").text, "Ada changed her number")
  })

  it("every media kind keeps its kind, type, SHA-256, caption, filename, voice and animated on the reference", () => {
    const fields = (id: string) => {
      const media = byId(id).media
      return media === null
        ? null
        : [media.kind, media.mimeType, media.sha256, media.caption, media.filename, media.voice, media.animated]
    }
    assert.deepStrictEqual(fields("image"), ["image", "image/jpeg", "abc=", "photo", null, null, null])
    assert.deepStrictEqual(fields("audio"), ["audio", "audio/ogg; codecs=opus", "abc=", null, null, true, null])
    assert.deepStrictEqual(fields("video"), ["video", "video/mp4", "abc=", "clip", null, null, null])
    assert.deepStrictEqual(fields("document"), ["document", "application/pdf", "abc=", null, "invoice.pdf", null, null])
    assert.deepStrictEqual(fields("sticker"), ["sticker", "image/webp", "abc=", null, null, null, false])
    assert.isNull(byId("image").media?.sizeBytes)
  })

  it("keeps an unknown or unreadable message whole as unsupported", () => {
    const future = byId("future")
    assert.deepStrictEqual(
      future.content,
      messages.find((m) => m.id === "wamid.future")
    )
    assert.isNull(future.text)
    assert.deepStrictEqual(
      byId("broken_image").content,
      messages.find((m) => m.id === "wamid.broken_image")
    )
    assert.deepStrictEqual((byId("unsupported").content?.unsupported as unknown) ?? null, { type: "poll" })
  })

  it("keeps the ad referral and forwarding flags", () => {
    const message = byId("referral")
    assert.strictEqual(message.text, "I saw your ad")
    assert.deepStrictEqual(message.content, {
      referral: { source_url: "https://fb.me/ad", source_id: "ad-1", source_type: "ad", ctwa_clid: "clid-1" },
      forwarded: true
    })
  })

  it("identifies a phone-less customer by business-scoped user id", () => {
    const batch = only(
      decodeRight(
        envelope({
          contacts: [{ profile: { name: "Username Person" }, wa_id: "", user_id: "US.13491208655302741918" }],
          messages: [
            {
              from: "",
              from_user_id: "US.13491208655302741918",
              id: "wamid.bsuid",
              timestamp: "1767261600",
              type: "text",
              text: { body: "hi" }
            },
            { from: "15550001111", id: "wamid.both", timestamp: 1767261601, type: "text", text: { body: "hi" } }
          ]
        })
      )
    )
    const [bsuid, both] = batch.inbound
    assert.isTrue(Option.isNone(bsuid?.customer.phone ?? Option.none()))
    assert.deepStrictEqual(bsuid?.customer.userId, Option.some("US.13491208655302741918"))
    assert.deepStrictEqual(bsuid?.customerName, Option.some("Username Person"))
    assert.deepStrictEqual(both?.customer.phone, Option.some("+15550001111"))
  })

  it("reports messages it cannot route instead of failing the batch", () => {
    const batch = only(
      decodeRight(
        envelope({
          messages: [
            { from: "15550001111", timestamp: "1767261600", type: "text", text: { body: "no id" } },
            { from: "", id: "wamid.nobody", timestamp: "1767261600", type: "text", text: { body: "no sender" } },
            { from: "15550001111", id: "wamid.badtime", timestamp: "yesterday", type: "text", text: { body: "x" } },
            "not an object",
            { from: "15550001111", id: "wamid.ok", timestamp: "1767261600", type: "text", text: { body: "ok" } }
          ]
        })
      )
    )
    assert.deepStrictEqual(
      batch.inbound.map((m) => m.providerMessageId),
      ["wamid.ok"]
    )
    assert.strictEqual(batch.skipped.length, 4)
    assert.isTrue(batch.skipped.every((s) => s.kind === "message" && s.reason.length > 0))
  })

  it("skips a message whose time is before 1970 or after the year 9999, which no store can hold", () => {
    const at = (id: string, timestamp: string | number) => ({
      from: "15550001111",
      id: `wamid.${id}`,
      timestamp,
      type: "text",
      text: { body: "x" }
    })
    const batch = only(
      decodeRight(
        envelope({
          messages: [
            at("max", 8_640_000_000_000),
            at("y10000", "253402300800"),
            at("negative", -1),
            at("huge", 1e20),
            at("last", "253402300799"),
            at("epoch", 0)
          ]
        })
      )
    )
    assert.deepStrictEqual(
      batch.inbound.map((m) => m.providerMessageId),
      ["wamid.last", "wamid.epoch"]
    )
    assert.strictEqual(batch.skipped.length, 4)
  })
})

describe("Webhook.decode: statuses and batches", () => {
  const messageId = "0190f5a4-7c1e-7b2a-9d3e-1a2b3c4d5e6f"
  const status = (id: string, value: string, extra: Record<string, unknown> = {}) => ({
    id: `wamid.${id}`,
    status: value,
    timestamp: "1767261660",
    recipient_id: "15550001111",
    ...extra
  })

  it("maps sent, delivered, read, played and failed; echoes our message id when it is a UUID", () => {
    const batch = only(
      decodeRight(
        envelope({
          statuses: [
            status("a", "sent", { biz_opaque_callback_data: messageId }),
            status("a", "delivered", { biz_opaque_callback_data: messageId.toUpperCase() }),
            status("b", "read", { biz_opaque_callback_data: "outbox:01JGZ8Q4N7T3K2M5P6R8S9V0WX" }),
            status("c", "played"),
            status("d", "failed", {
              biz_opaque_callback_data: messageId,
              errors: [{ code: 131026, title: "Message undeliverable" }]
            }),
            status("e", "failed"),
            status("f", "deleted"),
            status("g", "sent", { recipient_id: undefined, recipient_user_id: "US.1" })
          ]
        })
      )
    )
    assert.deepStrictEqual(
      batch.statuses.map((s) => [s.providerMessageId, s.status]),
      [
        ["wamid.a", "sent"],
        ["wamid.a", "delivered"],
        ["wamid.b", "read"],
        ["wamid.c", "read"],
        ["wamid.d", "failed"],
        ["wamid.e", "failed"],
        ["wamid.g", "sent"]
      ]
    )
    assert.deepStrictEqual(batch.statuses[0]?.messageId, Option.some(messageId))
    assert.isTrue(Option.isSome(batch.statuses[1]?.messageId ?? Option.none()))
    const notOurs = batch.statuses[2]
    assert.isTrue(notOurs !== undefined && Option.isNone(notOurs.messageId))
    assert.deepStrictEqual(
      Option.map(batch.statuses[4]?.failure ?? Option.none(), (f) => f.code),
      Option.some(131026)
    )
    const withoutErrors = batch.statuses[5]
    assert.isTrue(withoutErrors !== undefined && Option.isNone(withoutErrors.failure))
    assert.deepStrictEqual(
      batch.skipped.map((s) => [s.kind, s.reason]),
      [["status", 'unknown status "deleted"']]
    )
  })

  it("reads every entry and every change, grouped by phone number id, and ignores other fields", () => {
    const text = (id: string) => ({
      from: "15550001111",
      id,
      timestamp: "1767261600",
      type: "text",
      text: { body: id }
    })
    const change = (phoneNumberId: string, value: Record<string, unknown>) => ({
      field: "messages",
      value: { messaging_product: "whatsapp", metadata: { phone_number_id: phoneNumberId }, ...value }
    })
    const body = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: "waba-1",
          changes: [
            change("111", { messages: [text("m1"), text("m2")] }),
            change("222", { statuses: [status("s1", "sent")] }),
            {
              field: "message_template_status_update",
              value: { event: "APPROVED", message_template_id: 1, message_template_name: "x" }
            }
          ]
        },
        {
          id: "waba-2",
          changes: [
            change("111", { statuses: [status("s2", "read")], errors: [{ code: 130429, title: "Rate limit hit" }] }),
            change("333", { messages: [text("m3")], future_field: { anything: true } })
          ]
        },
        "not an entry",
        { id: "waba-3" }
      ]
    }
    const batches = decodeRight(body)
    assert.deepStrictEqual(
      batches.map((b) => [
        b.providerPhoneNumberId,
        b.inbound.map((m) => m.providerMessageId),
        b.statuses.map((s) => s.providerMessageId),
        b.errors.map((e) => e.code)
      ]),
      [
        ["111", ["m1", "m2"], ["wamid.s2"], [130429]],
        ["222", [], ["wamid.s1"], []],
        ["333", ["m3"], [], []]
      ]
    )
  })

  it("refuses what is not a webhook envelope with a typed error", () => {
    const reason = (raw: string | Uint8Array) =>
      Either.match(Webhook.decode(raw), { onLeft: (e) => e._tag, onRight: () => "decoded" })
    assert.strictEqual(reason("{"), "WebhookPayloadInvalid")
    assert.strictEqual(reason(""), "WebhookPayloadInvalid")
    assert.strictEqual(reason("null"), "WebhookPayloadInvalid")
    assert.strictEqual(reason("[]"), "WebhookPayloadInvalid")
    assert.strictEqual(reason("42"), "WebhookPayloadInvalid")
    assert.strictEqual(reason("{}"), "WebhookPayloadInvalid")
    assert.strictEqual(reason('{"entry": {}}'), "WebhookPayloadInvalid")
    assert.strictEqual(reason(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])), "WebhookPayloadInvalid")
    assert.strictEqual(reason('{"object":"page","entry":[]}'), "decoded")
  })
})

describe("Webhook.templateStatusChanges", () => {
  // Meta's `message_template_status_update` change, routed by the WABA in `entry[].id`.
  const payload = (...events: ReadonlyArray<string>) => ({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        time: 1767261600,
        changes: [
          ...events.map((event) => ({
            field: "message_template_status_update",
            value: {
              event,
              message_template_id: 123456789012345,
              message_template_name: "order_update_v1",
              message_template_language: "en_US",
              reason: "NONE",
              message_template_category: "UTILITY"
            }
          })),
          { field: "messages", value: { metadata: { phone_number_id: "1" }, messages: [] } }
        ]
      }
    ]
  })

  it("reads each status change; REINSTATED is APPROVED; notices that set no status are left out", () => {
    assert.deepStrictEqual(Webhook.templateStatusChanges(payload("REJECTED", "FLAGGED", "REINSTATED", "LOCKED")), [
      { wabaId: "102290129340398", name: "order_update_v1", language: "en_US", status: "REJECTED" },
      { wabaId: "102290129340398", name: "order_update_v1", language: "en_US", status: "APPROVED" }
    ])
  })

  it("ignores what is not a template change, and anything malformed", () => {
    assert.deepStrictEqual(Webhook.templateStatusChanges(payload()), [])
    assert.deepStrictEqual(
      Webhook.templateStatusChanges({ entry: [{ changes: payload("PAUSED").entry[0]?.changes }] }),
      []
    )
    assert.deepStrictEqual(Webhook.templateStatusChanges("not an object"), [])
  })
})
