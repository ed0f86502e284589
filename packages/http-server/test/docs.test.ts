/**
 * `/docs` on the wire: compressed as the client accepts (brotli, gzip, or not at all), the same page whichever way,
 * revalidated by ETag (304), cached, with a Content-Security-Policy that allows exactly the page's inline scripts,
 * and `nosniff`. Raw `node:http` requests, since `fetch` would decompress behind the test's back.
 */
import * as Http from "node:http"
import { brotliDecompressSync, gunzipSync } from "node:zlib"
import { TestDatabase } from "@parley/postgres/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Docs from "../src/Docs.js"
import { type Harness, start } from "./support/Harness.js"

interface Raw {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Buffer
}

const get = (url: string, headers: Record<string, string>): Promise<Raw> =>
  new Promise((resolve, reject) => {
    Http.get(url, { headers }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) })
      )
      response.on("error", reject)
    }).on("error", reject)
  })

describe("content negotiation", () => {
  it("prefers brotli, then gzip, honours q=0 and *, and falls back to identity", () => {
    expect(Docs.negotiate("gzip, deflate, br")).toBe("br")
    expect(Docs.negotiate("gzip")).toBe("gzip")
    expect(Docs.negotiate("br;q=0, gzip;q=0.5")).toBe("gzip")
    expect(Docs.negotiate("*")).toBe("br")
    expect(Docs.negotiate("*;q=0")).toBe("identity")
    expect(Docs.negotiate("deflate")).toBe("identity")
    expect(Docs.negotiate(undefined)).toBe("identity")
    expect(Docs.negotiate("")).toBe("identity")
  })
})

describe("/docs", () => {
  let h: Harness
  beforeAll(async () => {
    h = await start({ name: "PGlite", database: () => TestDatabase.pglite })
  })
  afterAll(async () => {
    await h?.close()
  })

  it("serves the same page compressed with brotli or gzip, or plain, with one ETag", async () => {
    const plain = await get(`${h.url}/docs`, {})
    const br = await get(`${h.url}/docs`, { "accept-encoding": "gzip, deflate, br" })
    const gzip = await get(`${h.url}/docs`, { "accept-encoding": "gzip" })
    expect([plain.status, br.status, gzip.status]).toEqual([200, 200, 200])
    expect(plain.headers["content-encoding"]).toBeUndefined()
    expect(br.headers["content-encoding"]).toBe("br")
    expect(gzip.headers["content-encoding"]).toBe("gzip")
    expect(plain.headers["content-type"]).toContain("text/html")
    expect(plain.body.byteLength).toBeGreaterThan(1_000_000)
    // A quarter of the size or less on the wire.
    expect(br.body.byteLength).toBeLessThan(plain.body.byteLength / 4)
    expect(gzip.body.byteLength).toBeLessThan(plain.body.byteLength / 3)
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true)
    expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true)
    expect(plain.body.toString("utf8")).toContain('"openapi":"3.1.0"')
    for (const reply of [plain, br, gzip]) {
      expect(reply.headers.etag).toBe(plain.headers.etag)
      expect(reply.headers.vary).toBe("accept-encoding")
      expect(reply.headers["cache-control"]).toBe(Docs.cacheControl)
      expect(reply.headers["x-content-type-options"]).toBe("nosniff")
    }
  }, 60_000)

  it("answers 304 with no body to a matching If-None-Match, 200 to a stale one", async () => {
    const first = await get(`${h.url}/docs`, { "accept-encoding": "br" })
    const etag = first.headers.etag ?? ""
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{20,}"$/)
    const again = await get(`${h.url}/docs`, { "accept-encoding": "br", "if-none-match": etag })
    expect(again.status).toBe(304)
    expect(again.body.byteLength).toBe(0)
    expect(again.headers.etag).toBe(etag)
    expect((await get(`${h.url}/docs`, { "if-none-match": '"stale"' })).status).toBe(200)
  }, 60_000)

  it("has a CSP that allows exactly the page's inline scripts and no other origin", async () => {
    const page = await get(`${h.url}/docs`, {})
    const csp = String(page.headers["content-security-policy"])
    const html = page.body.toString("utf8")
    const hashes = Docs.scriptHashes(html)
    // The configuration script and the viewer itself; the OpenAPI JSON block is data, not a script.
    expect(hashes).toHaveLength(2)
    const scriptSrc = csp.split("; ").find((directive) => directive.startsWith("script-src "))
    expect(scriptSrc).toBe(`script-src ${hashes.join(" ")} 'wasm-unsafe-eval'`)
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toMatch(/https?:/)
    expect(csp).not.toMatch(/'unsafe-eval'|'unsafe-inline'[^;]*script|script-src[^;]*'unsafe-inline'/)
  }, 60_000)
})
