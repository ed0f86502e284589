import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import * as Media from "../src/Media.js"
import { MediaReference } from "../src/Message.js"

const kinds = Media.MediaKind.literals
const allowedType = FastCheck.constantFrom(...Media.allMimeTypes)
const head = (animated: boolean) => {
  const bytes = new Uint8Array(32)
  bytes.set(new TextEncoder().encode("RIFF"), 0)
  bytes.set(new TextEncoder().encode("WEBPVP8X"), 8)
  bytes[20] = animated ? 0x02 : 0x00
  return bytes
}

describe("Media", () => {
  it.prop(
    "an upload is accepted exactly when its type is allowed and its size within its kind's limit",
    {
      mimeType: FastCheck.oneof(allowedType, FastCheck.constantFrom("image/gif", "audio/webm", "", "application/zip")),
      params: FastCheck.constantFrom("", "; codecs=opus", "; charset=utf-8"),
      upper: FastCheck.boolean(),
      animated: FastCheck.boolean(),
      size: FastCheck.integer({ min: 0, max: 120_000_000 })
    },
    ({ mimeType, params, upper, animated, size }) => {
      const type = `${upper ? mimeType.toUpperCase() : mimeType}${params}`
      const result = Media.checkUpload({ mimeType: type, sizeBytes: size, head: head(animated) })
      const kind = Media.kindOf(type)
      if (kind === undefined) {
        assert.isFalse(Media.allMimeTypes.includes(mimeType))
        assert.isTrue(Either.isLeft(result) && result.left._tag === "MediaTypeUnsupported")
        return
      }
      const rule: Media.MediaRule = Media.rules[kind]
      const max = kind === "sticker" && animated ? (rule.maxAnimatedBytes ?? rule.maxBytes) : rule.maxBytes
      if (size <= max) assert.deepStrictEqual(result, Either.right(kind))
      else {
        assert.isTrue(Either.isLeft(result))
        if (Either.isLeft(result) && result.left._tag === "MediaTooLarge") {
          assert.strictEqual(result.left.maxBytes, max)
          assert.strictEqual(result.left.sizeBytes, size)
          assert.strictEqual(result.left.kind, kind)
        } else assert.fail("expected MediaTooLarge")
      }
    }
  )

  it("the limits are WhatsApp's: image 5 MB, audio and video 16 MB, document 100 MB, sticker 100/500 KB", () => {
    const at = (mimeType: string, sizeBytes: number, animated = false) =>
      Either.isRight(Media.checkUpload({ mimeType, sizeBytes, head: head(animated) }))
    assert.isTrue(at("image/jpeg", 5_000_000))
    assert.isFalse(at("image/jpeg", 5_000_001))
    assert.isTrue(at("audio/ogg; codecs=opus", 16_000_000))
    assert.isFalse(at("video/mp4", 16_000_001))
    assert.isTrue(at("application/pdf", 100_000_000))
    assert.isFalse(at("application/pdf", 100_000_001))
    assert.isFalse(at("image/webp", 100_001))
    assert.isTrue(at("image/webp", 500_000, true))
    assert.isFalse(at("image/webp", 500_001, true))
    assert.strictEqual(Media.maxUploadBytes, 100_000_000)
  })

  it("tells an animated WebP from a still one by its VP8X flags", () => {
    assert.isTrue(Media.isAnimatedWebp(head(true)))
    assert.isFalse(Media.isAnimatedWebp(head(false)))
    assert.isFalse(Media.isAnimatedWebp(head(true).subarray(0, 20)))
    const lossy = head(true)
    lossy.set(new TextEncoder().encode("VP8 "), 12)
    assert.isFalse(Media.isAnimatedWebp(lossy))
  })

  it.prop(
    "a SHA-256 reads the same in hex and in base64",
    { bytes: FastCheck.uint8Array({ maxLength: 64 }) },
    ({ bytes }) => {
      const digest = createHash("sha256").update(bytes).digest()
      const hex = digest.toString("hex")
      assert.strictEqual(Media.sha256Hex(hex), hex)
      assert.strictEqual(Media.sha256Hex(hex.toUpperCase()), hex)
      assert.strictEqual(Media.sha256Hex(digest.toString("base64")), hex)
      assert.strictEqual(Media.sha256Hex(digest.toString("base64url")), hex)
    }
  )

  it("a SHA-256 that is neither hex nor base64 of 32 bytes is not one", () => {
    for (const value of ["", "abc", "z".repeat(64), "AAAA", Buffer.alloc(31).toString("base64")]) {
      assert.isUndefined(Media.sha256Hex(value))
    }
  })

  it.prop(
    "a send has exactly one source, and a caption or filename only where its kind allows",
    {
      kind: FastCheck.constantFrom(...kinds),
      link: FastCheck.option(FastCheck.constant("https://example.com/f"), { nil: undefined }),
      mediaId: FastCheck.option(FastCheck.constant("123"), { nil: undefined }),
      caption: FastCheck.option(FastCheck.constant("hi"), { nil: undefined }),
      filename: FastCheck.option(FastCheck.constant("a.pdf"), { nil: undefined })
    },
    ({ kind, link, mediaId, caption, filename }) => {
      const input: Media.SendMediaInput = {
        kind,
        ...(link === undefined ? {} : { link }),
        ...(mediaId === undefined ? {} : { mediaId }),
        ...(caption === undefined ? {} : { caption }),
        ...(filename === undefined ? {} : { filename })
      }
      const paths = Media.sendProblems(input).map((issue) => issue.path)
      const rule: Media.MediaRule = Media.rules[kind]
      const ok =
        (link === undefined) !== (mediaId === undefined) &&
        (caption === undefined || rule.caption) &&
        (filename === undefined || rule.filename)
      assert.strictEqual(paths.length === 0, ok)
      assert.strictEqual(paths.includes("caption"), caption !== undefined && !rule.caption)
      assert.strictEqual(paths.includes("filename"), filename !== undefined && !rule.filename)
    }
  )

  it("links must be https and media ids must not carry path characters", () => {
    const link = Schema.decodeUnknownEither(Media.MediaLink)
    assert.isTrue(Either.isRight(link("https://cdn.example.com/a.jpg?v=2")))
    for (const bad of ["http://x.example/a", "https://", "ftp://x", "https://a b", "javascript:alert(1)"]) {
      assert.isTrue(Either.isLeft(link(bad)), bad)
    }
    const id = Schema.decodeUnknownEither(Media.ProviderMediaId)
    assert.isTrue(Either.isRight(id("1834915043569604")))
    for (const bad of ["", "../x", "a/b", "a b", "x".repeat(129)]) assert.isTrue(Either.isLeft(id(bad)), bad)
  })

  it("a media reference stored before kind, caption, size, voice and animated decodes with them null", () => {
    const decode = Schema.decodeUnknownSync(MediaReference)
    const old = decode({ providerMediaId: "1", url: null, mimeType: "image/jpeg", sha256: null, filename: null })
    assert.deepStrictEqual(
      [old.kind, old.caption, old.sizeBytes, old.voice, old.animated],
      [null, null, null, null, null]
    )
    const encoded = Schema.encodeSync(MediaReference)(
      new MediaReference({ ...old, kind: "audio", voice: true, sizeBytes: 10 })
    )
    assert.deepStrictEqual(decode(encoded), new MediaReference({ ...old, kind: "audio", voice: true, sizeBytes: 10 }))
  })
})
