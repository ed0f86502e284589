/**
 * Media end to end through HTTP: a customer's image, audio, video, document and sticker arrive by signed webhook
 * and download through `GET /v1/messaging/messages/:id/media` from the fake Cloud API (streamed, SHA-256
 * checked, 410 once the provider forgot them); each kind goes out by link or uploaded id, idempotently; uploads are
 * refused by type and size before anything reaches the provider.
 */
import { createHash } from "node:crypto"
import * as v8 from "node:v8"
import { runInNewContext } from "node:vm"
import type { FakeMedia } from "@parley/whatsapp-cloud/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConversationJson, MessageJson } from "../src/Representation.js"
import {
  createTenant,
  type Envelope,
  type ErrorReply,
  engines,
  type Harness,
  nextPhone,
  start,
  type Tenant,
  customerWrites as writes
} from "./support/Harness.js"

type Detail = ConversationJson & { readonly messages: ReadonlyArray<MessageJson> }
type Kind = "image" | "audio" | "video" | "document" | "sticker"

interface Uploaded {
  readonly mediaId: string
  readonly type: Kind
  readonly mimeType: string
  readonly sizeBytes: number
}

const list = await engines()

const bytes = (size: number, seed: number) => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff
  return out
}

/** A WebP header whose VP8X flags say animated (bit 1 of byte 20), padded to `size`. */
const animatedWebp = (size: number) => {
  const out = bytes(size, 7)
  out.set(new TextEncoder().encode("RIFF"), 0)
  out.set(new TextEncoder().encode("WEBPVP8X"), 8)
  out[20] = 0x02
  return out
}

const inboundCases: ReadonlyArray<{
  readonly kind: Kind
  readonly mimeType: string
  readonly extra: { caption?: string; filename?: string; voice?: boolean; animated?: boolean }
  readonly expectFilename: RegExp
}> = [
  { kind: "image", mimeType: "image/jpeg", extra: { caption: "the box arrived like this" }, expectFilename: /\.jpg/ },
  { kind: "audio", mimeType: "audio/ogg; codecs=opus", extra: { voice: true }, expectFilename: /\.ogg/ },
  { kind: "video", mimeType: "video/mp4", extra: { caption: "unboxing" }, expectFilename: /\.mp4/ },
  {
    kind: "document",
    mimeType: "application/pdf",
    extra: { caption: "my receipt", filename: 'Rechnung März "final".pdf' },
    expectFilename: /filename\*=UTF-8''Rechnung%20M%C3%A4rz%20%22final%22\.pdf/
  },
  { kind: "sticker", mimeType: "image/webp", extra: { animated: false }, expectFilename: /\.webp/ }
]

describe.each(list)("media on $name", (engine) => {
  let h: Harness
  let a: Tenant
  let b: Tenant

  beforeAll(async () => {
    h = await start(engine)
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
    b = await createTenant(h, "Business B", "200000000000003", "token-b")
  })
  afterAll(async () => {
    await h?.close()
  })

  /** A customer of `a` sends a file; returns the stored message as the API shows it. */
  const customerSends = async (kind: Kind, file: FakeMedia.PutMedia, extra: (typeof inboundCases)[number]["extra"]) => {
    const held = h.fake.media.put(file)
    const from = nextPhone()
    const reply = await h.webhook(
      h.fake.inboundMediaPayload({ from, kind, media: held, phoneNumberId: a.phoneNumberId, ...extra })
    )
    expect(reply.status).toBe(200)
    const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      `/v1/messaging/conversations?search=${from}`,
      { key: a.key }
    )
    const conversation = found.body.data[0]
    if (conversation === undefined) throw new Error("no conversation")
    const detail = await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${conversation.id}`, {
      key: a.key
    })
    const message = detail.body.data.messages[0]
    if (message === undefined) throw new Error("no message")
    return { held, message, conversation }
  }

  const download = (messageId: string, key = a.key) =>
    fetch(`${h.url}/v1/messaging/messages/${messageId}/media`, { headers: { authorization: `Bearer ${key}` } })

  it.each(inboundCases)("an inbound $kind keeps its details and downloads byte for byte", async (c) => {
    const content = bytes(150_000, c.kind.length)
    const { held, message } = await customerSends(c.kind, { mimeType: c.mimeType, bytes: content }, c.extra)
    expect(message.messageType).toBe(c.kind)
    expect(message.media).toMatchObject({
      providerMediaId: held.id,
      kind: c.kind,
      mimeType: c.mimeType,
      sha256: held.sha256Base64,
      caption: c.extra.caption ?? null,
      filename: c.extra.filename ?? null,
      voice: c.extra.voice ?? null,
      animated: c.extra.animated ?? null
    })

    const response = await download(message.id)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toBe(c.mimeType)
    expect(response.headers.get("content-length")).toBe(String(content.length))
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=/)
    expect(response.headers.get("content-disposition")).toMatch(c.expectFilename)
    const body = new Uint8Array(await response.arrayBuffer())
    expect(createHash("sha256").update(body).digest("hex")).toBe(held.sha256Hex)
  })

  it("410 media_gone once the provider no longer keeps the file", async () => {
    const { held, message } = await customerSends("image", { mimeType: "image/png", bytes: bytes(1000, 1) }, {})
    h.fake.media.expire(held.id)
    const response = await download(message.id)
    expect(response.status).toBe(410)
    const body = (await response.json()) as ErrorReply
    expect(body.error.code).toBe("media_gone")
    expect(body.message).toMatch(/no longer keeps/)
  })

  it("an expired download URL gets one fresh URL before the file counts as gone", async () => {
    const { message } = await customerSends("image", { mimeType: "image/png", bytes: bytes(1000, 2) }, {})
    h.fake.media.urlLifetimeMillis = -1
    try {
      const response = await download(message.id)
      expect(response.status).toBe(410)
    } finally {
      h.fake.media.urlLifetimeMillis = 5 * 60_000
    }
    expect((await download(message.id)).status).toBe(200)
  })

  it("404 for a message without a file, another business's message, and an unknown id; 403 without the scope", async () => {
    const { conversation } = await writes(h, a)
    const detail = await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${conversation.id}`, {
      key: a.key
    })
    const text = detail.body.data.messages[0]
    if (text === undefined) throw new Error("no message")
    const noMedia = await download(text.id)
    expect(noMedia.status).toBe(404)
    expect(((await noMedia.json()) as ErrorReply).error.code).toBe("message_has_no_media")

    const { message } = await customerSends("image", { mimeType: "image/png", bytes: bytes(100, 3) }, {})
    const foreign = await download(message.id, b.key)
    expect(foreign.status).toBe(404)
    expect(((await foreign.json()) as ErrorReply).error.code).toBe("message_not_found")
    expect((await download("not-a-uuid")).status).toBe(404)

    const sendOnly = await a.keyFor(["messaging:messages:send"])
    expect((await download(message.id, sendOnly)).status).toBe(403)
  })

  it("bytes that do not match the provider's SHA-256 never complete: the connection is cut", async () => {
    const { message } = await customerSends(
      "document",
      { mimeType: "application/pdf", bytes: bytes(300_000, 4), sha256: "0".repeat(64) },
      { filename: "tampered.pdf" }
    )
    const response = await download(message.id)
    expect(response.status).toBe(200)
    await expect(response.arrayBuffer()).rejects.toThrow()
  })

  it("streams a 100 MB document with the right hash, without holding it in memory", async () => {
    const size = 100 * 1024 * 1024
    const { held, message } = await customerSends(
      "document",
      { mimeType: "application/pdf", bytes: { size, seed: "large" } },
      { filename: "large.pdf" }
    )
    // A first small download warms the path (buffers, PGlite's memory), so the figure is the large file's own.
    const warm = await customerSends("document", { mimeType: "application/pdf", bytes: bytes(1_000_000, 5) }, {})
    await (await download(warm.message.id)).arrayBuffer()
    // Garbage waiting for a collection is not memory held: collect before each reading, so the figure is what the
    // process keeps alive while streaming (a buffered file would stay).
    v8.setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as () => void
    gc()
    const started = performance.now()
    const before = process.memoryUsage().rss
    let peak = before
    const response = await download(message.id)
    expect(response.headers.get("content-length")).toBe(String(size))
    const hash = createHash("sha256")
    let received = 0
    const reader = response.body?.getReader()
    if (reader === undefined) throw new Error("no body")
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      hash.update(value)
      const before8 = Math.floor(received / 16_777_216)
      received += value.length
      if (Math.floor(received / 16_777_216) > before8) {
        gc()
        peak = Math.max(peak, process.memoryUsage().rss)
      }
    }
    expect(received).toBe(size)
    expect(hash.digest("hex")).toBe(held.sha256Hex)
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1)
    console.log(
      `[figures] ${engine.name}: 100 MiB document streamed in ${Math.round(performance.now() - started)} ms; ` +
        `RSS ${mb(before)} MiB before, ${mb(peak)} MiB at peak (+${mb(peak - before)} MiB)`
    )
    // Server, fake and client share this process: buffering the file anywhere would add 100 MB or more.
    expect(peak - before).toBeLessThan(size / 2)
  }, 120_000)

  // -------------------------------------------------------------------------------------------------------------
  // Outbound

  const send = (conversationId: string, body: unknown, idempotencyKey?: string) =>
    h.call<Envelope<MessageJson>>("POST", `/v1/messaging/conversations/${conversationId}/messages`, {
      key: a.key,
      body,
      ...(idempotencyKey === undefined ? {} : { headers: { "idempotency-key": idempotencyKey } })
    })

  const outCases: ReadonlyArray<{ readonly body: Record<string, unknown>; readonly wire: Record<string, unknown> }> = [
    {
      body: { type: "image", link: "https://cdn.example.com/a.jpg", caption: "your parcel" },
      wire: { link: "https://cdn.example.com/a.jpg", caption: "your parcel" }
    },
    { body: { type: "audio", mediaId: "1834915043569604" }, wire: { id: "1834915043569604" } },
    { body: { type: "video", link: "https://cdn.example.com/v.mp4" }, wire: { link: "https://cdn.example.com/v.mp4" } },
    {
      body: { type: "document", mediaId: "99", filename: "invoice.pdf", caption: "Invoice A-1042" },
      wire: { id: "99", filename: "invoice.pdf", caption: "Invoice A-1042" }
    },
    { body: { type: "sticker", mediaId: "42" }, wire: { id: "42" } }
  ]

  it.each(outCases)("sends a $body.type and records it as a media message", async ({ body, wire }) => {
    const { conversation } = await writes(h, a)
    const reply = await send(conversation.id, body)
    expect(reply.status).toBe(201)
    const kind = body.type as Kind
    expect(reply.body.data).toMatchObject({
      messageType: kind,
      direction: "outbound",
      deliveryStatus: "sent",
      text: (body.caption as string | undefined) ?? null
    })
    expect(reply.body.data.media).toMatchObject({
      kind,
      providerMediaId: (body.mediaId as string | undefined) ?? null,
      url: (body.link as string | undefined) ?? null
    })
    const sent = h.fake.sends.find((s) => s.wamid === reply.body.data.providerMessageId)
    expect(sent?.type).toBe(kind)
    expect(sent?.body[kind]).toEqual(wire)
  })

  it("media sends are idempotent: same key and body → one send; same key, other body → 422", async () => {
    const { conversation } = await writes(h, a)
    const body = { type: "image", link: "https://cdn.example.com/once.jpg" }
    const before = h.fake.sends.length
    const first = await send(conversation.id, body, "media-key-1")
    const again = await send(conversation.id, body, "media-key-1")
    expect(first.status).toBe(201)
    expect(again.status).toBe(201)
    expect(again.headers.get("idempotent-replayed")).toBe("true")
    expect(again.body.data.id).toBe(first.body.data.id)
    expect(h.fake.sends.length).toBe(before + 1)
    const other = await send(conversation.id, { ...body, caption: "changed" }, "media-key-1")
    expect(other.status).toBe(422)
    expect((other.body as unknown as ErrorReply).error.code).toBe("idempotency_key_reused")
    // A text under the same key is another body too.
    expect((await send(conversation.id, { text: "hi" }, "media-key-1")).status).toBe(422)
  })

  it.each([
    [{ type: "image" }, ""],
    [{ type: "image", link: "https://x.example/a.jpg", mediaId: "1" }, "mediaId"],
    [{ type: "audio", mediaId: "1", caption: "no" }, "caption"],
    [{ type: "image", mediaId: "1", filename: "a.jpg" }, "filename"],
    [{ type: "image", link: "http://x.example/a.jpg" }, "link"],
    [{ type: "gif", link: "https://x.example/a.gif" }, "type"],
    [{ type: "image", mediaId: "../../etc" }, "mediaId"]
  ])("refuses %j with 400 naming %s, sending nothing", async (body, path) => {
    const { conversation } = await writes(h, a)
    const before = h.fake.sends.length
    const reply = await send(conversation.id, body)
    expect(reply.status).toBe(400)
    expect((reply.body as unknown as ErrorReply).error.code).toBe("invalid_request")
    expect(JSON.stringify((reply.body as unknown as ErrorReply).error.details)).toContain(`"path":"${path}"`)
    expect(h.fake.sends.length).toBe(before)
  })

  it("a media send outside the 24-hour window is 422 service_window_closed", async () => {
    const { conversation } = await writes(h, a, { minutesAgo: 25 * 60 })
    const reply = await send(conversation.id, { type: "image", mediaId: "1" })
    expect(reply.status).toBe(422)
    expect((reply.body as unknown as ErrorReply).error.code).toBe("service_window_closed")
  })

  it("a template's media header takes an uploaded media id or a link", async () => {
    await h.admin("POST", `/businesses/${a.businessId}/templates`, {
      key: "receipt",
      name: "receipt",
      language: "en",
      category: "UTILITY",
      status: "APPROVED",
      parameterFormat: "NAMED",
      components: [
        { type: "HEADER", format: "DOCUMENT" },
        { type: "BODY", text: "Your receipt for {{order_id}}" }
      ]
    })
    for (const [value, wire] of [
      ["1834915043569604", { id: "1834915043569604" }],
      ["https://cdn.example.com/r.pdf", { link: "https://cdn.example.com/r.pdf" }]
    ] as const) {
      const reply = await h.call<Envelope<MessageJson>>("POST", "/v1/messaging/messages/template", {
        key: a.key,
        body: {
          business_whatsapp_number_id: a.numberId,
          phone: `+${nextPhone()}`,
          template_key: "receipt",
          variables: { "header.document": value, order_id: "A-1042" }
        }
      })
      expect(reply.status).toBe(201)
      const sent = h.fake.sends.find((s) => s.wamid === reply.body.data.providerMessageId)
      const template = sent?.body.template as { components: ReadonlyArray<Record<string, unknown>> }
      expect(template.components[0]).toEqual({ type: "header", parameters: [{ type: "document", document: wire }] })
    }
  })

  // -------------------------------------------------------------------------------------------------------------
  // Uploads

  const postForm = async <T = ErrorReply>(form: FormData, key = a.key) => {
    const response = await fetch(`${h.url}/v1/messaging/media`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}` },
      body: form
    })
    return { status: response.status, body: (await response.json()) as T }
  }

  const upload = (file: Blob, name: string, numberId: string = a.numberId, key = a.key) => {
    const form = new FormData()
    form.append("whatsappNumberId", numberId)
    form.append("file", file, name)
    return postForm<Envelope<Uploaded>>(form, key)
  }

  it.each([
    ["image", "image/png", 4_000_000, "a.png"],
    ["document", "application/pdf", 200_000, "r.pdf"],
    ["audio", "audio/ogg; codecs=opus", 10_000, "v.ogg"],
    ["video", "video/mp4", 50_000, "v.mp4"],
    ["sticker", "image/webp", 90_000, "s.webp"]
  ] as const)("uploads a %s (%s) to the provider and answers its media id", async (kind, type, size, name) => {
    const content = bytes(size, 9)
    const reply = await upload(new Blob([content], { type }), name)
    expect(reply.status).toBe(201)
    expect(reply.body.data).toMatchObject({ type: kind, sizeBytes: size })
    const received = h.fake.media.uploads.find((u) => u.id === reply.body.data.mediaId)
    expect(received).toMatchObject({
      phoneNumberId: a.phoneNumberId,
      messagingProduct: "whatsapp",
      filename: name,
      size,
      sha256Hex: createHash("sha256").update(content).digest("hex")
    })
    // The id sends like any other.
    const { conversation } = await writes(h, a)
    const sent = await send(conversation.id, { type: kind, mediaId: reply.body.data.mediaId })
    expect(sent.status).toBe(201)
  })

  it.each([
    ["image/png", 5_000_001, "a.png", "image"],
    ["audio/mpeg", 16_000_001, "a.mp3", "audio"],
    ["image/webp", 100_001, "still.webp", "sticker"]
  ] as const)(
    "refuses an oversize %s (%i bytes) with 413 naming the limit, uploading nothing",
    async (type, size, name, kind) => {
      const before = h.fake.media.uploads.length
      const reply = await upload(new Blob([bytes(size, 1)], { type }), name)
      expect(reply.status).toBe(413)
      const error = (reply.body as unknown as ErrorReply).error
      expect(error.code).toBe("media_too_large")
      expect(error.details).toMatchObject({ type: kind })
      expect(h.fake.media.uploads.length).toBe(before)
    }
  )

  it("an animated sticker may reach 500 KB, a still one only 100 KB", async () => {
    expect((await upload(new Blob([animatedWebp(400_000)], { type: "image/webp" }), "a.webp")).status).toBe(201)
    const tooBig = await upload(new Blob([animatedWebp(500_001)], { type: "image/webp" }), "b.webp")
    expect(tooBig.status).toBe(413)
    expect((tooBig.body as unknown as ErrorReply).error.details).toMatchObject({ limitBytes: 500_000 })
  })

  it.each([
    ["image/gif", "a.gif"],
    ["audio/webm", "a.webm"],
    ["application/zip", "a.zip"]
  ])("refuses %s with 415 listing the allowed types, uploading nothing", async (type, name) => {
    const before = h.fake.media.uploads.length
    const reply = await upload(new Blob([bytes(1000, 1)], { type }), name)
    expect(reply.status).toBe(415)
    const error = (reply.body as unknown as ErrorReply).error
    expect(error.code).toBe("media_type_unsupported")
    expect(error.details?.allowed).toContain("application/pdf")
    expect(h.fake.media.uploads.length).toBe(before)
  })

  it("refuses a form without a file or number (400), another business's number (404), and no scope (403)", async () => {
    const noFile = new FormData()
    noFile.append("whatsappNumberId", a.numberId)
    expect((await postForm(noFile)).status).toBe(400)
    const file = new Blob([bytes(10, 1)], { type: "image/png" })
    const noNumber = new FormData()
    noNumber.append("file", file, "a.png")
    expect((await postForm(noNumber)).status).toBe(400)
    expect((await upload(file, "a.png", b.numberId)).status).toBe(404)
    const readOnly = await a.keyFor(["messaging:messages:read"])
    expect((await upload(file, "a.png", a.numberId, readOnly)).status).toBe(403)
  })

  it("JSON and other non-multipart bodies on the upload route stay 415", async () => {
    const reply = await h.call("POST", "/v1/messaging/media", { key: a.key, body: { whatsappNumberId: a.numberId } })
    expect(reply.status).toBe(415)
  })
})
