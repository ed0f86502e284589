/**
 * With `PARLEY_MEDIA_DIR` (the harness's `mediaDir`), the first download of a message's file keeps a copy on disk,
 * checked against WhatsApp's SHA-256 as it is written, and later downloads serve it: the file outlives WhatsApp's
 * retention. A file whose bytes do not match is not kept and answers 502 `media_corrupted`.
 */
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
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
  type Tenant
} from "./support/Harness.js"

type Detail = ConversationJson & { readonly messages: ReadonlyArray<MessageJson> }

const [engine] = await engines()

describe("media copies in a directory", () => {
  let h: Harness
  let a: Tenant
  let dir: string

  beforeAll(async () => {
    dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-media-copy-"))
    if (engine === undefined) throw new Error("no engine")
    h = await start(engine, { mediaDir: dir })
    a = await createTenant(h, "Business A", "200000000000002", "token-a")
  })
  afterAll(async () => {
    await h?.close()
    Fs.rmSync(dir, { recursive: true, force: true })
  })

  const customerSends = async (file: FakeMedia.PutMedia) => {
    const held = h.fake.media.put(file)
    const from = nextPhone()
    await h.webhook(h.fake.inboundMediaPayload({ from, kind: "document", media: held, phoneNumberId: a.phoneNumberId }))
    const found = await h.call<Envelope<ReadonlyArray<ConversationJson>>>(
      "GET",
      `/v1/messaging/conversations?search=${from}`,
      { key: a.key }
    )
    const detail = await h.call<Envelope<Detail>>("GET", `/v1/messaging/conversations/${found.body.data[0]?.id}`, {
      key: a.key
    })
    const message = detail.body.data.messages[0]
    if (message === undefined) throw new Error("no message")
    return { held, message }
  }

  const download = (id: string) =>
    fetch(`${h.url}/v1/messaging/messages/${id}/media`, { headers: { authorization: `Bearer ${a.key}` } })

  it("the first download keeps a copy; after WhatsApp forgets the file it is still served", async () => {
    const bytes = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) % 256)
    const { held, message } = await customerSends({ mimeType: "application/pdf", bytes })
    const first = await download(message.id)
    expect(first.status).toBe(200)
    expect(
      createHash("sha256")
        .update(new Uint8Array(await first.arrayBuffer()))
        .digest("hex")
    ).toBe(held.sha256Hex)
    const kept = Path.join(dir, a.businessId, message.id)
    expect(Fs.statSync(kept).size).toBe(bytes.length)

    h.fake.media.expire(held.id)
    const later = await download(message.id)
    expect(later.status).toBe(200)
    expect(later.headers.get("content-type")).toBe("application/pdf")
    expect(later.headers.get("content-length")).toBe(String(bytes.length))
    expect(Buffer.from(await later.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
  })

  it("bytes that do not match WhatsApp's SHA-256 are not kept: 502 media_corrupted", async () => {
    const { message } = await customerSends({
      mimeType: "application/pdf",
      bytes: new Uint8Array(5000),
      sha256: "f".repeat(64)
    })
    const reply = await download(message.id)
    expect(reply.status).toBe(502)
    expect(((await reply.json()) as ErrorReply).error.code).toBe("media_corrupted")
    const files = Fs.existsSync(Path.join(dir, a.businessId)) ? Fs.readdirSync(Path.join(dir, a.businessId)) : []
    expect(files.filter((f) => f.startsWith(message.id))).toEqual([])
  })
})
