/**
 * fast-check arbitraries from the served OpenAPI document: values that meet a JSON Schema (as Effect writes them:
 * `$ref`s into `components.schemas` with sibling constraints, `anyOf`, enums, patterns), and hostile values that
 * reach the edges (NUL, lone surrogates, huge, deep, wrong types).
 */
import { FastCheck as fc } from "effect"

export type JsonSchema = Readonly<Record<string, unknown>>

export interface Spec {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>
  readonly components?: { readonly schemas?: Readonly<Record<string, JsonSchema>> }
}

export interface Parameter {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly required?: boolean
  readonly schema?: JsonSchema
}

export interface Operation {
  readonly parameters?: ReadonlyArray<Parameter>
  readonly requestBody?: { readonly content?: Readonly<Record<string, { readonly schema?: JsonSchema }>> }
  readonly security?: ReadonlyArray<Readonly<Record<string, unknown>>>
}

/** Values the world knows (ids of its conversations, businesses…), by field or parameter name. */
export type Known = Readonly<Record<string, ReadonlyArray<string>>>

/** Strings that have broken text handling somewhere: NUL, lone surrogates, BOM, bidi, astral, SQL and path text. */
export const hostileStrings: ReadonlyArray<string> = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFFy",
  "\uFEFF",
  "\u202Egnp.exe",
  "😀👩‍👩‍👧‍👦",
  "𝄞",
  "\u0001\u001F\u007F",
  "' OR 1=1 --",
  "%00",
  "../../../../etc/passwd",
  ["$", "{jndi:ldap://x}"].join(""),
  "null",
  "-1",
  "1e309",
  "0x10",
  "<script>alert(1)</script>",
  "\\u0000",
  "\r\n\r\nX: y"
]

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...hostileStrings) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => "x".repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3_000 }).map((n) => "\u0000".repeat(n)) }
)

/** A JSON value nested `depth` levels deep, built without recursion (JSON.stringify copes; a decoder must too). */
export const deep = (depth: number, kind: "array" | "object"): unknown => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = kind === "array" ? [value] : { a: value }
  return value
}

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      0,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_VALUE,
      1e308,
      [],
      {},
      [null],
      { __proto__: { polluted: true } },
      { constructor: { prototype: { polluted: true } } }
    )
  },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 2_000 }).map((d) => deep(d, "array")) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 2_000 }).map((d) => deep(d, "object")) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) }
)

const uuid = fc.uuid()

/** A string meeting the few patterns the API uses; other patterns fall back to hostile text (still a good test). */
const patterned = (pattern: string): fc.Arbitrary<string> => {
  if (pattern === "^\\d{1,32}$") return fc.stringMatching(/^\d{1,32}$/)
  if (pattern.startsWith("^\\+[1-9]")) return fc.stringMatching(/^\+[1-9]\d{7,14}$/)
  if (pattern.startsWith("^[0-9a-fA-F]{8}-")) return uuid
  return fc.stringMatching(new RegExp(pattern))
}

const resolve = (spec: Spec, schema: JsonSchema): JsonSchema => {
  const ref = schema.$ref
  if (typeof ref !== "string") return schema
  const name = ref.replace("#/components/schemas/", "")
  const target = spec.components?.schemas?.[name] ?? {}
  const { $ref: _ref, ...siblings } = schema
  return { ...resolve(spec, target), ...siblings }
}

/** A value meeting `schema`, with the world's known values for fields it names. */
export const arbitraryFor = (spec: Spec, raw: JsonSchema, known: Known, name?: string): fc.Arbitrary<unknown> => {
  const schema = resolve(spec, raw)
  const fromWorld = name === undefined ? undefined : known[name]
  if (fromWorld !== undefined && fromWorld.length > 0) return fc.constantFrom(...fromWorld)
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return fc.constantFrom(...(schema.enum as Array<unknown>))
  if ("const" in schema) return fc.constant(schema.const)
  const union = (schema.anyOf ?? schema.oneOf) as ReadonlyArray<JsonSchema> | undefined
  if (Array.isArray(union) && union.length > 0) return fc.oneof(...union.map((s) => arbitraryFor(spec, s, known)))
  switch (schema.type) {
    case "null":
      return fc.constant(null)
    case "boolean":
      return fc.boolean()
    case "integer":
    case "number":
      return fc.integer({
        min: typeof schema.minimum === "number" ? schema.minimum : -1000,
        max: typeof schema.maximum === "number" ? schema.maximum : 1000
      })
    case "array": {
      const items = typeof schema.items === "object" && schema.items !== null ? (schema.items as JsonSchema) : {}
      return fc.array(arbitraryFor(spec, items, known), {
        minLength: typeof schema.minItems === "number" ? schema.minItems : 0,
        maxLength: 4
      })
    }
    case "object": {
      const properties = (schema.properties ?? {}) as Readonly<Record<string, JsonSchema>>
      const required = new Set((schema.required ?? []) as ReadonlyArray<string>)
      const entries = Object.entries(properties).map(
        ([key, s]) =>
          [
            key,
            required.has(key)
              ? arbitraryFor(spec, s, known, key)
              : fc.option(arbitraryFor(spec, s, known, key), { nil: undefined })
          ] as const
      )
      const extra =
        typeof schema.additionalProperties === "object" && schema.additionalProperties !== null
          ? fc.dictionary(
              fc.string({ minLength: 1, maxLength: 12 }),
              arbitraryFor(spec, schema.additionalProperties as JsonSchema, known),
              { maxKeys: 4 }
            )
          : fc.constant({})
      return fc.tuple(fc.record(Object.fromEntries(entries)), extra).map(([fields, more]) => {
        const out: Record<string, unknown> = { ...more }
        for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
        return out
      })
    }
    default: {
      if (typeof schema.pattern === "string") return patterned(schema.pattern)
      if (schema.format === "uuid") return uuid
      return fc.string({
        unit: "grapheme",
        minLength: typeof schema.minLength === "number" ? schema.minLength : 0,
        maxLength: Math.min(typeof schema.maxLength === "number" ? schema.maxLength : 40, 40)
      })
    }
  }
}
