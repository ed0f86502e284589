import { assert, describe, it } from "@effect/vitest"
import { CustomerIdentity, E164, MessageId } from "@parley/core"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import * as MediaPayload from "../src/MediaPayload.js"

const to = CustomerIdentity.byPhone(E164.make("+15550001111"))
const messageId = MessageId.make("00000000-0000-4000-8000-000000000001")

describe("MediaPayload", () => {
  it("a media send carries exactly one of id and link, and only the fields given", () => {
    assert.deepStrictEqual(
      MediaPayload.mediaMessage({
        to,
        messageId,
        media: { kind: "document", providerMediaId: "123", filename: "a.pdf", caption: "Invoice" }
      }),
      {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: "+15550001111",
        biz_opaque_callback_data: messageId,
        type: "document",
        document: { id: "123", caption: "Invoice", filename: "a.pdf" }
      }
    )
    const image = MediaPayload.mediaMessage({
      to,
      messageId,
      media: { kind: "image", link: "https://x.example/a.jpg" }
    })
    assert.deepStrictEqual(image.image, { link: "https://x.example/a.jpg" })
  })

  it("reads the media answer with file_size as a number or a string", () => {
    const decode = Schema.decodeUnknownEither(Schema.parseJson(MediaPayload.MediaInfo))
    for (const size of [1234, "1234"]) {
      const info = decode(
        JSON.stringify({ url: "https://lookaside.fbsbx.com/x", mime_type: "image/png", file_size: size })
      )
      assert.isTrue(Either.isRight(info) && info.right.file_size === 1234)
    }
    assert.isTrue(Either.isLeft(decode(JSON.stringify({ mime_type: "image/png" }))))
  })

  it.effect("the upload body is multipart with the declared length, the file's bytes unchanged, the name escaped", () =>
    Effect.gen(function* () {
      const file = Uint8Array.from({ length: 3000 }, (_, i) => i % 256)
      const body = MediaPayload.uploadBody(
        { mimeType: "application/pdf", filename: 'in"voice\r\n.pdf', sizeBytes: file.length },
        Stream.fromIterable([file.subarray(0, 1000), file.subarray(1000)]),
        "BOUNDARY"
      )
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(body.stream))
      const all = Buffer.concat(chunks.map((c) => Buffer.from(c)))
      assert.strictEqual(all.length, body.contentLength)
      assert.strictEqual(body.contentType, "multipart/form-data; boundary=BOUNDARY")
      const text = all.toString("latin1")
      assert.include(text, 'name="messaging_product"\r\n\r\nwhatsapp\r\n')
      assert.include(text, 'name="type"\r\n\r\napplication/pdf\r\n')
      assert.include(text, 'name="file"; filename="in_voice__.pdf"\r\nContent-Type: application/pdf\r\n\r\n')
      const start = all.indexOf("\r\n\r\n", all.indexOf('name="file"')) + 4
      assert.isTrue(all.subarray(start, start + file.length).equals(Buffer.from(file)))
      assert.isTrue(text.endsWith("\r\n--BOUNDARY--\r\n"))
    })
  )
})
