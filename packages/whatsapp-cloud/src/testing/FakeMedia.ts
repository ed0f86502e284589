/**
 * The fake Cloud API's media: files it holds (customers' media and uploads), `GET /{version}/{media-id}` answering a
 * download URL that expires, that URL serving the bytes (streamed, generated on the fly, so a 100 MB file costs
 * the fake no memory), `POST /{version}/{phone-number-id}/media` for uploads, and retention: a forgotten file is
 * Meta's code 100 on `GET /{media-id}` and a 404 on its old URL.
 */
import { createHash, randomBytes } from "node:crypto"
import type * as Http from "node:http"

/** A file's bytes: given, or `size` bytes generated from `seed` (deterministic, never held in memory). */
export type MediaBytes = Uint8Array | { readonly size: number; readonly seed: string }

export interface PutMedia {
  /** Default: a fresh numeric id, like Meta's. */
  readonly id?: string
  readonly mimeType: string
  readonly bytes: MediaBytes
  /** What `GET /{media-id}` says the SHA-256 is; default the true one. A wrong one tests integrity checks. */
  readonly sha256?: string
}

export interface HeldMedia {
  readonly id: string
  readonly mimeType: string
  readonly size: number
  /** The true SHA-256 of the bytes, hex and base64 (webhooks carry base64). */
  readonly sha256Hex: string
  readonly sha256Base64: string
}

export interface MediaUpload {
  readonly id: string
  readonly phoneNumberId: string
  readonly messagingProduct: string | null
  readonly type: string | null
  readonly filename: string | null
  readonly fileContentType: string | null
  readonly size: number
  readonly sha256Hex: string
}

interface Entry extends HeldMedia {
  readonly bytes: MediaBytes
  readonly claimedSha256: string
}

const chunkSize = 64 * 1024

/** The bytes in chunks of at most 64 KiB; generated ones repeat a block derived from the seed. */
function* chunksOf(bytes: MediaBytes): Generator<Uint8Array> {
  if (bytes instanceof Uint8Array) {
    for (let offset = 0; offset < bytes.length; offset += chunkSize) yield bytes.subarray(offset, offset + chunkSize)
    return
  }
  const block = Buffer.alloc(chunkSize)
  for (let offset = 0; offset < chunkSize; offset += 32) {
    createHash("sha256").update(`${bytes.seed}:${offset}`).digest().copy(block, offset)
  }
  for (let offset = 0; offset < bytes.size; offset += chunkSize) {
    yield block.subarray(0, Math.min(chunkSize, bytes.size - offset))
  }
}

const sizeOf = (bytes: MediaBytes) => (bytes instanceof Uint8Array ? bytes.length : bytes.size)

/** The SHA-256 of a file's bytes (streamed through the hash). */
export const digestOf = (bytes: MediaBytes): Buffer => {
  const hash = createHash("sha256")
  for (const chunk of chunksOf(bytes)) hash.update(chunk)
  return hash.digest()
}

/** Every byte of a file, for tests that compare what came out with what went in. */
export const concat = (bytes: MediaBytes): Buffer => Buffer.concat([...chunksOf(bytes)])

const json = (res: Http.ServerResponse, status: number, body: unknown) => {
  if (res.destroyed) return
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8" })
  res.end(JSON.stringify(body))
}

const unknownObject = (res: Http.ServerResponse, id: string) =>
  json(res, 400, {
    error: {
      message: `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      type: "GraphMethodException",
      code: 100,
      error_subcode: 33,
      fbtrace_id: "AFakeTraceMedia"
    }
  })

/** Splits a buffered multipart body into its parts (the fake's uploads are test-sized). */
const partsOf = (body: Buffer, boundary: string) => {
  const parts: Array<{ name: string | null; filename: string | null; contentType: string | null; data: Buffer }> = []
  const delimiter = Buffer.from(`--${boundary}`)
  let start = body.indexOf(delimiter)
  while (start !== -1) {
    const next = body.indexOf(delimiter, start + delimiter.length)
    if (next === -1) break
    const part = body.subarray(start + delimiter.length + 2, next - 2)
    const split = part.indexOf("\r\n\r\n")
    if (split !== -1) {
      const head = part.subarray(0, split).toString("utf8")
      parts.push({
        name: /name="([^"]*)"/.exec(head)?.[1] ?? null,
        filename: /filename="([^"]*)"/.exec(head)?.[1] ?? null,
        contentType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? null,
        data: part.subarray(split + 4)
      })
    }
    start = next
  }
  return parts
}

export class FakeMediaStore {
  readonly #files = new Map<string, Entry>()
  readonly #uploads: Array<MediaUpload> = []
  #counter = 0
  /** How long a download URL works, in milliseconds (Meta: about 5 minutes). */
  urlLifetimeMillis = 5 * 60_000

  constructor(
    private readonly baseUrl: () => string,
    private readonly authorized: (token: string | undefined) => boolean
  ) {}

  put(media: PutMedia): HeldMedia {
    const digest = digestOf(media.bytes)
    const id = media.id ?? String(1_000_000_000_000_000 + ++this.#counter + Math.floor(Math.random() * 1e9))
    const entry: Entry = {
      id,
      mimeType: media.mimeType,
      size: sizeOf(media.bytes),
      sha256Hex: digest.toString("hex"),
      sha256Base64: digest.toString("base64"),
      bytes: media.bytes,
      claimedSha256: media.sha256 ?? digest.toString("hex")
    }
    this.#files.set(id, entry)
    const { bytes: _bytes, claimedSha256: _claimed, ...held } = entry
    return held
  }

  /** Forgets the file, as Meta does once its retention passed. */
  expire(id: string): void {
    this.#files.delete(id)
  }

  get(id: string): HeldMedia | undefined {
    return this.#files.get(id)
  }

  get uploads(): ReadonlyArray<MediaUpload> {
    return this.#uploads.slice()
  }

  reset(): void {
    this.#files.clear()
    this.#uploads.length = 0
  }

  /** Answers the request when it is a media route; false when it is not one. */
  handle(req: Http.IncomingMessage, res: Http.ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://fake.invalid")
    const method = (req.method ?? "GET").toUpperCase()
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1]
    const download = /^\/_media\/([^/]+)$/.exec(url.pathname)
    if (method === "GET" && download) {
      this.#download(download[1] ?? "", url, token, res)
      return true
    }
    const upload = /^\/[^/]+\/([^/]+)\/media\/?$/.exec(url.pathname)
    if (method === "POST" && upload) {
      this.#upload(upload[1] ?? "", req, token, res)
      return true
    }
    const info = /^\/v[^/]+\/([^/]+)\/?$/.exec(url.pathname)
    if (method === "GET" && info && this.#files.has(info[1] ?? "")) {
      if (!this.authorized(token)) {
        json(res, 401, { error: { message: "Invalid OAuth access token", type: "OAuthException", code: 190 } })
        return true
      }
      const entry = this.#files.get(info[1] ?? "")
      if (entry === undefined) return false
      const expires = Date.now() + this.urlLifetimeMillis
      json(res, 200, {
        messaging_product: "whatsapp",
        url: `${this.baseUrl()}/_media/${entry.id}?expires=${expires}&sig=${randomBytes(6).toString("hex")}`,
        mime_type: entry.mimeType,
        sha256: entry.claimedSha256,
        // Some API versions send the size as a string.
        file_size: String(entry.size),
        id: entry.id
      })
      return true
    }
    return false
  }

  #download(id: string, url: URL, token: string | undefined, res: Http.ServerResponse) {
    const entry = this.#files.get(id)
    const expires = Number(url.searchParams.get("expires") ?? "0")
    if (!this.authorized(token)) {
      json(res, 401, { error: { message: "Invalid OAuth access token", type: "OAuthException", code: 190 } })
      return
    }
    if (entry === undefined || Date.now() > expires) {
      res.writeHead(404, { "content-type": "text/plain" })
      res.end("Not Found")
      return
    }
    res.writeHead(200, { "content-type": entry.mimeType, "content-length": String(entry.size) })
    const chunks = chunksOf(entry.bytes)
    // Written with backpressure, one chunk at a time: the fake never holds more than a chunk of a large file.
    const pump = () => {
      for (;;) {
        if (res.destroyed) return
        const next = chunks.next()
        if (next.done) {
          res.end()
          return
        }
        if (!res.write(next.value)) {
          res.once("drain", pump)
          return
        }
      }
    }
    pump()
  }

  #upload(phoneNumberId: string, req: Http.IncomingMessage, token: string | undefined, res: Http.ServerResponse) {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("error", () => res.destroy())
    req.on("end", () => {
      if (!this.authorized(token)) {
        json(res, 401, { error: { message: "Invalid OAuth access token", type: "OAuthException", code: 190 } })
        return
      }
      const boundary = /boundary=([^;]+)/.exec(req.headers["content-type"] ?? "")?.[1]?.replace(/^"|"$/g, "")
      if (boundary === undefined) return unknownObject(res, "media")
      const parts = partsOf(Buffer.concat(chunks), boundary)
      const field = (name: string) => parts.find((p) => p.name === name && p.filename === null)?.data.toString("utf8")
      const file = parts.find((p) => p.name === "file")
      if (file === undefined || field("messaging_product") !== "whatsapp") {
        json(res, 400, {
          error: { message: "(#100) The parameter file is required.", type: "OAuthException", code: 100 }
        })
        return
      }
      const held = this.put({
        mimeType: field("type") ?? file.contentType ?? "application/octet-stream",
        bytes: file.data
      })
      this.#uploads.push({
        id: held.id,
        phoneNumberId,
        messagingProduct: field("messaging_product") ?? null,
        type: field("type") ?? null,
        filename: file.filename,
        fileContentType: file.contentType,
        size: held.size,
        sha256Hex: held.sha256Hex
      })
      json(res, 200, { id: held.id })
    })
  }
}
