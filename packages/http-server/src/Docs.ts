/**
 * `/docs` as a browser should get it. The page (Scalar's reference, generated from the same `Api`) is 3.4 MB of
 * HTML with the whole viewer inlined; it is built once, then served compressed (brotli or gzip, as the client
 * accepts), cached (an `ETag` for cheap revalidation, answered 304), and locked down: a Content-Security-Policy
 * that allows exactly the page's own inline scripts (by hash) and no other origin, and `nosniff`.
 */
import { createHash } from "node:crypto"
import { promisify } from "node:util"
import { brotliCompress, constants, gzip } from "node:zlib"
import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

export const path = "/docs"

/** Browsers keep the page this long, then revalidate with the ETag (a 304 costs a few bytes). */
export const cacheControl = "public, max-age=300"

interface Prepared {
  readonly etag: string
  readonly identity: Uint8Array
  readonly gzip: Uint8Array
  readonly br: Uint8Array
  readonly headers: Readonly<Record<string, string>>
}

const inlineScripts = /<script(\s[^>]*)?>([\s\S]*?)<\/script>/g

/** The hash sources of every inline script the browser would run (JSON data blocks are not run). */
export const scriptHashes = (html: string): ReadonlyArray<string> =>
  Array.from(html.matchAll(inlineScripts)).flatMap((match) => {
    const attributes = match[1] ?? ""
    const body = match[2] ?? ""
    if (/\ssrc=/.test(attributes) || /type="application\/json"/.test(attributes) || body === "") return []
    return [`'sha256-${createHash("sha256").update(body, "utf8").digest("base64")}'`]
  })

export const contentSecurityPolicy = (html: string): string =>
  [
    "default-src 'none'",
    // The viewer compiles a WebAssembly module: 'wasm-unsafe-eval' allows that, and still no eval() of strings.
    `script-src ${scriptHashes(html).join(" ")} 'wasm-unsafe-eval'`,
    // The viewer injects its styles at run time.
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    // "Try it" calls this API, on this origin only.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")

const brotli = promisify(brotliCompress)
const gzipped = promisify(gzip)

/**
 * Compressed once, off the event loop (zlib's thread pool). Brotli quality 5 gets within 4% of quality 11 on this
 * page in a fortieth of the time (0.4 s against 16 s on a small machine), so the first request does not wait long.
 */
const prepare = (html: Uint8Array): Promise<Prepared> =>
  Promise.all([
    gzipped(html),
    brotli(html, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: html.byteLength }
    })
  ]).then(([gzip, br]) => ({
    etag: `"${createHash("sha256").update(html).digest("base64url").slice(0, 27)}"`,
    identity: html,
    gzip,
    br,
    headers: {
      "cache-control": cacheControl,
      "content-security-policy": contentSecurityPolicy(new TextDecoder().decode(html)),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      vary: "accept-encoding"
    }
  }))

/** The best encoding the client accepts (`q=0` refuses one); identity when it names none we have. */
export const negotiate = (acceptEncoding: string | undefined): "br" | "gzip" | "identity" => {
  const accepted = new Map<string, number>()
  for (const part of (acceptEncoding ?? "").split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";")
    if (name === undefined || name === "") continue
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined)
    accepted.set(name, q === undefined ? 1 : Number(q))
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get("*") ?? 0
  if (weight("br") > 0) return "br"
  if (weight("gzip") > 0) return "gzip"
  return "identity"
}

const matches = (ifNoneMatch: string | undefined, etag: string): boolean =>
  (ifNoneMatch ?? "").split(",").some((tag) => {
    const t = tag.trim()
    return t === "*" || t === etag || t === `W/${etag}`
  })

/**
 * Middleware: `GET /docs` is answered from the prepared page; everything else passes through. The page is rendered
 * by Scalar's handler on the first request (its module is imported only then: see ScalarPage.ts).
 */
export const serve = (app: HttpApp.Default): HttpApp.Default => {
  // Concurrent first requests share one preparation.
  let prepared: Promise<Prepared> | undefined
  return Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const q = request.url.indexOf("?")
    const requestPath = q === -1 ? request.url : request.url.slice(0, q)
    if (requestPath !== path || (request.method !== "GET" && request.method !== "HEAD")) return yield* app
    if (prepared === undefined) {
      const page = yield* Effect.flatMap(
        Effect.promise(() => import("./ScalarPage.js")),
        (module) => module.render(path)
      )
      if (page.status !== 200 || page.body._tag !== "Uint8Array") return page
      prepared = prepare(page.body.body)
    }
    const pending = prepared
    const page = yield* Effect.promise(() => pending)
    if (matches(request.headers["if-none-match"], page.etag)) {
      return HttpServerResponse.empty({ status: 304, headers: { ...page.headers, etag: page.etag } })
    }
    const encoding = negotiate(request.headers["accept-encoding"])
    const body = encoding === "br" ? page.br : encoding === "gzip" ? page.gzip : page.identity
    return HttpServerResponse.uint8Array(body, {
      contentType: "text/html; charset=utf-8",
      headers: {
        ...page.headers,
        etag: page.etag,
        ...(encoding === "identity" ? {} : { "content-encoding": encoding })
      }
    })
  })
}
