/**
 * Requests for every operation of the OpenAPI document: valid ones (values from the schemas and the world), mutated
 * ones (a field dropped, an unknown field, a field made hostile, the wrong type), and hostile ones (bodies that are
 * not JSON, huge or deeply nested, wrong content types and methods, forged cursors, strange headers and paths).
 */
import { FastCheck as fc } from "effect"
import { describeRequest } from "./Checks.js"
import {
  arbitraryFor,
  hostileString,
  hostileValue,
  type Known,
  type Operation,
  type Parameter,
  type Spec
} from "./SchemaArbitrary.js"

export interface FuzzRequest {
  readonly operation: string
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array | undefined
}

export interface Credentials {
  /** Keys of the world's tenants, the admin token, and keys that mean nothing. */
  readonly apiKeys: ReadonlyArray<string>
  readonly adminToken: string
}

/** Cursors the API did not sign: hand-built positions (dates out of range), edited and random ones. */
export const forgedCursor = (valid: ReadonlyArray<string>): fc.Arbitrary<string> => {
  const handBuilt = fc
    .tuple(
      fc.constantFrom("+200000-01-01T00:00:00.000Z", "-000001-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "x", ""),
      fc.oneof(fc.uuid(), hostileString)
    )
    .map((position) => Buffer.from(JSON.stringify(position)).toString("base64url"))
  const edited =
    valid.length === 0
      ? handBuilt
      : fc
          .tuple(fc.constantFrom(...valid), fc.nat(), fc.constantFrom("A", "_", "-", ".", "\u0000", "%"))
          .map(([cursor, at, c]) => {
            const i = at % cursor.length
            return `${cursor.slice(0, i)}${c}${cursor.slice(i + 1)}`
          })
  return fc.oneof(handBuilt, edited, hostileString, fc.string({ maxLength: 600 }))
}

/** fast-check prints a failing request this way: short, whatever the size of its body. */
export const printable = <R extends FuzzRequest>(request: R): R =>
  Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) })

const asText = (value: unknown): string => (typeof value === "string" ? value : (JSON.stringify(value) ?? ""))

const encodeSegment = (value: string): string => {
  try {
    return encodeURIComponent(value)
  } catch {
    // A lone surrogate cannot be URI-encoded: send percent-escapes of bytes that are not UTF-8 instead.
    return "%ED%A0%80"
  }
}

/** Raw bodies that are not the JSON an endpoint wants. */
const hostileBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.constantFrom<string | Uint8Array>(
    "",
    "{",
    "{}}",
    "null",
    "[]",
    "1",
    '"text"',
    "\uFEFF{}",
    '{"text":"\\u0000"}',
    '{"text":"\\ud800"}',
    '{"__proto__":{"polluted":1}}',
    "{'single':'quotes'}",
    Uint8Array.from([0xff, 0xfe, 0xfd, 0x00, 0x7b]),
    Uint8Array.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])
  ),
  fc.integer({ min: 100, max: 200_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
  fc.integer({ min: 100, max: 100_000 }).map((n) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`),
  fc.integer({ min: 1_000, max: 60_000 }).map((n) => {
    const fields: Record<string, number> = {}
    for (let i = 0; i < n; i++) fields[`f${i}`] = i
    return JSON.stringify(fields)
  }),
  fc.integer({ min: 500_000, max: 1_200_000 }).map((n) => JSON.stringify({ text: "x".repeat(n) })),
  fc.string({ unit: "binary", maxLength: 200 })
)

type Mutation = "valid" | "drop" | "unknown" | "hostile-field" | "hostile-body" | "wrong-type"

const mutate = (
  body: unknown,
  mutation: Mutation,
  pick: number,
  hostile: unknown
): unknown | { readonly raw: string | Uint8Array } => {
  if (mutation === "valid" || typeof body !== "object" || body === null || Array.isArray(body)) return body
  const record = { ...(body as Record<string, unknown>) }
  const keys = Object.keys(record)
  const key = keys.length === 0 ? undefined : keys[pick % keys.length]
  switch (mutation) {
    case "drop":
      if (key !== undefined) delete record[key]
      return record
    case "unknown":
      return { ...record, [`unknown_${pick % 7}`]: hostile }
    case "hostile-field":
    case "wrong-type":
      return key === undefined ? { field: hostile } : { ...record, [key]: hostile }
    default:
      return record
  }
}

const contentTypes = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "application/json; charset=utf-16",
      "APPLICATION/JSON",
      "application/vnd.api+json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=xyz",
      "application/xml",
      "application/jsonx",
      "*/*",
      ""
    )
  }
)

const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }).filter((s) => /^[\t\x20-\x7e]*$/.test(s)),
  fc.constantFrom("é", "ÿ", "a".repeat(300), " ", "\t", "0", "-1", "x".repeat(5000))
)

/** One request to `operation` of the document; `known` fills ids and names, `credentials` the auth. */
export const requestFor = (
  spec: Spec,
  path: string,
  method: string,
  operation: Operation,
  known: Known,
  credentials: Credentials,
  cursors: ReadonlyArray<string>
): fc.Arbitrary<FuzzRequest> => {
  const parameters = operation.parameters ?? []
  const jsonSchema = operation.requestBody?.content?.["application/json"]?.schema
  const isAdmin = path.startsWith("/v1/admin")
  const valueFor = (p: Parameter) =>
    p.name === "cursor" || p.name === "before"
      ? fc.oneof(fc.constantFrom(...(cursors.length > 0 ? cursors : ["x"])), forgedCursor(cursors))
      : fc.oneof(
          { weight: 8, arbitrary: arbitraryFor(spec, p.schema ?? {}, known, p.name).map(asText) },
          { weight: 1, arbitrary: hostileString },
          { weight: 1, arbitrary: fc.uuid() }
        )
  const pathParams = parameters.filter((p) => p.in === "path")
  const queryParams = parameters.filter((p) => p.in === "query")
  const headerParams = parameters.filter((p) => p.in === "header" && p.name !== "x-hub-signature-256")
  const auth = fc.oneof(
    { weight: 8, arbitrary: fc.constant(isAdmin ? credentials.adminToken : undefined) },
    { weight: 2, arbitrary: fc.constantFrom(credentials.adminToken, ...credentials.apiKeys) },
    { weight: 1, arbitrary: headerValue }
  )
  const key = fc.constantFrom(...credentials.apiKeys)
  return fc
    .record({
      pathValues: fc.tuple(...pathParams.map(valueFor)),
      query: fc.tuple(...queryParams.map((p) => fc.option(valueFor(p), { nil: undefined, freq: 2 }))),
      extraQuery: fc.option(fc.tuple(fc.constantFrom("limit", "cursor", "zzz", "status", "__proto__"), hostileString), {
        nil: undefined
      }),
      headers: fc.tuple(...headerParams.map((p) => fc.option(valueFor(p), { nil: undefined }))),
      body: jsonSchema === undefined ? fc.constant(undefined) : arbitraryFor(spec, jsonSchema, known),
      mutation: fc.constantFrom<Mutation>(
        "valid",
        "valid",
        "valid",
        "drop",
        "unknown",
        "hostile-field",
        "hostile-body",
        "wrong-type"
      ),
      pick: fc.nat(),
      hostile: hostileValue,
      rawBody: hostileBody,
      contentType: contentTypes,
      auth,
      key,
      authScheme: fc.oneof(
        { weight: 12, arbitrary: fc.constant("Bearer ") },
        { weight: 1, arbitrary: fc.constantFrom("bearer ", "Basic ", "", "Bearer  ") }
      ),
      requestId: fc.option(headerValue, { nil: undefined }),
      wrongMethod: fc.oneof(
        { weight: 12, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") }
      )
    })
    .map((r) => {
      let url = path
      pathParams.forEach((p, i) => {
        url = url.replace(`{${p.name}}`, encodeSegment(asText(r.pathValues[i])))
      })
      const search: Array<string> = []
      queryParams.forEach((p, i) => {
        const v = r.query[i]
        if (v !== undefined) search.push(`${encodeURIComponent(p.name)}=${encodeSegment(v)}`)
      })
      if (r.extraQuery !== undefined) search.push(`${r.extraQuery[0]}=${encodeSegment(r.extraQuery[1])}`)
      const headers: Record<string, string> = {}
      headerParams.forEach((p, i) => {
        const v = r.headers[i]
        if (v !== undefined && /^[\t\x20-\xff]*$/.test(v)) headers[p.name] = v
      })
      const token = r.auth ?? r.key
      if (/^[\t\x20-\xff]*$/.test(token)) headers.authorization = `${r.authScheme}${token}`
      if (r.requestId !== undefined && /^[\t\x20-\xff]*$/.test(r.requestId)) headers["x-request-id"] = r.requestId
      let body: string | Uint8Array | undefined
      if (jsonSchema !== undefined) {
        if (r.mutation === "hostile-body") body = r.rawBody
        else body = JSON.stringify(mutate(r.body, r.mutation, r.pick, r.hostile))
        if (r.contentType !== "") headers["content-type"] = r.contentType
      }
      return printable({
        operation: `${method.toUpperCase()} ${path}`,
        method: r.wrongMethod ?? method.toUpperCase(),
        path: search.length === 0 ? url : `${url}?${search.join("&")}`,
        headers,
        body: r.wrongMethod === "GET" ? undefined : body
      })
    })
}

/** Every operation of the document, as one arbitrary. */
export const anyRequest = (
  spec: Spec,
  known: Known,
  credentials: Credentials,
  cursors: ReadonlyArray<string>
): fc.Arbitrary<FuzzRequest> =>
  fc.oneof(
    ...Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) =>
        requestFor(spec, path, method, operation, known, credentials, cursors)
      )
    ),
    // Paths the document does not have, and documented paths spelled oddly.
    fc
      .tuple(
        fc.constantFrom("/v1/", "/v1/messaging/", "/webhooks/", "/", "//", "/v1/messaging/conversations/"),
        hostileString
      )
      .map(([prefix, rest]) =>
        printable({
          operation: "unknown path",
          method: "GET",
          path: `${prefix}${encodeSegment(rest)}`,
          headers: { authorization: `Bearer ${credentials.apiKeys[0] ?? ""}` }
        })
      )
  )
