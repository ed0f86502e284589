import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import type { BusinessId } from "../src/Ids.js"
import { bind, type Template, variablesOf } from "../src/Template.js"
import { TestData } from "../src/testing/index.js"

const businessId = "00000000-0000-4000-8000-0000000000b1" as BusinessId

const template = (fields: Partial<Template>) => TestData.template({ businessId, ...fields })

const problemsOf = (result: ReturnType<typeof bind>) =>
  Either.match(result, {
    onLeft: (e) => e.problems.map((p) => `${p.variable}:${p.problem}`).sort(),
    onRight: () => []
  })

describe("Template.bind", () => {
  it("binds the contract's example into named body parameters", () => {
    const bound = Either.getOrThrow(bind(template({}), { order_id: "1234", eta: "Friday" }))
    assert.deepStrictEqual(bound.components, [
      {
        type: "body",
        parameters: [
          { type: "text", text: "1234", parameterName: "order_id" },
          { type: "text", text: "Friday", parameterName: "eta" }
        ]
      }
    ])
    assert.strictEqual(bound.renderedText, "Order 1234 arrives Friday.")
    assert.strictEqual(bound.name, "order_shipped")
    assert.strictEqual(bound.language, "en_US")
  })

  it("binds positional header, body and URL button parameters in order", () => {
    const t = template({
      parameterFormat: "POSITIONAL",
      components: [
        { type: "HEADER", format: "TEXT", text: "Order {{1}}" },
        { type: "BODY", text: "Hi {{1}}, order {{2}} ships {{3}}. Again: {{1}}" },
        { type: "FOOTER", text: "Acme" },
        {
          type: "BUTTONS",
          buttons: [
            { type: "QUICK_REPLY", text: "Stop" },
            { type: "URL", text: "Track", url: "https://acme.test/t/{{1}}" },
            { type: "COPY_CODE", text: "Copy" }
          ]
        }
      ]
    })
    assert.deepStrictEqual(variablesOf(t), ["header.1", "1", "2", "3", "button.1", "button.2"])
    const bound = Either.getOrThrow(
      bind(t, { "header.1": "A-1001", 1: "Ada", 2: "A-1001", 3: "today", "button.1": "A-1001", "button.2": "25OFF" })
    )
    assert.deepStrictEqual(bound.components, [
      { type: "header", parameters: [{ type: "text", text: "A-1001" }] },
      {
        type: "body",
        parameters: [
          { type: "text", text: "Ada" },
          { type: "text", text: "A-1001" },
          { type: "text", text: "today" }
        ]
      },
      { type: "button", subType: "url", index: 1, parameters: [{ type: "text", text: "A-1001" }] },
      { type: "button", subType: "copy_code", index: 2, parameters: [{ type: "coupon_code", couponCode: "25OFF" }] }
    ])
    assert.strictEqual(bound.renderedText, "Hi Ada, order A-1001 ships today. Again: Ada")
  })

  it("takes a media header as a link or a media id", () => {
    const t = template({
      components: [
        { type: "HEADER", format: "IMAGE" },
        { type: "BODY", text: "Look" }
      ]
    })
    const byLink = Either.getOrThrow(bind(t, { "header.image": "https://cdn.test/a.jpg" }))
    assert.deepStrictEqual(byLink.components, [
      { type: "header", parameters: [{ type: "image", link: "https://cdn.test/a.jpg" }] }
    ])
    const byId = Either.getOrThrow(bind(t, { "header.image": "1234567890" }))
    assert.deepStrictEqual(byId.components, [{ type: "header", parameters: [{ type: "image", id: "1234567890" }] }])
    assert.deepStrictEqual(problemsOf(bind(t, { "header.image": "http://insecure" })), [
      "header.image:invalid_media_reference"
    ])
  })

  it("names every problem at once", () => {
    const result = bind(template({}), { order_id: "line\nbreak", extra: "x", unknown_too: "y" })
    assert.deepStrictEqual(problemsOf(result), [
      "eta:missing",
      "extra:unknown",
      "order_id:newline_or_tab",
      "unknown_too:unknown"
    ])
  })

  it("applies Meta's value rules: empty, tabs, more than 4 spaces, length", () => {
    const t = template({})
    assert.deepStrictEqual(problemsOf(bind(t, { order_id: "", eta: "   " })), ["eta:empty", "order_id:empty"])
    assert.deepStrictEqual(problemsOf(bind(t, { order_id: "a\tb", eta: "a     b" })), [
      "eta:too_many_spaces",
      "order_id:newline_or_tab"
    ])
    assert.deepStrictEqual(problemsOf(bind(t, { order_id: "a    b", eta: "x".repeat(1024) })), [])
    assert.deepStrictEqual(problemsOf(bind(t, { order_id: "1", eta: "x".repeat(1025) })), ["eta:too_long"])
    const header = template({ components: [{ type: "HEADER", format: "TEXT", text: "Order {{id}} is here" }] })
    assert.deepStrictEqual(problemsOf(bind(header, { "header.id": "x".repeat(60) })), ["header.id:too_long"])
  })

  it("binds a template without placeholders to no components", () => {
    const bound = Either.getOrThrow(bind(template({ components: [{ type: "BODY", text: "Hello!" }] }), {}))
    assert.deepStrictEqual(bound.components, [])
    assert.strictEqual(bound.renderedText, "Hello!")
  })

  const name = FastCheck.stringMatching(/^[a-z_][a-z0-9_]{0,11}$/)
  const goodValue = FastCheck.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 .,-]{0,20}$/).filter((v) => !/ {5}/.test(v))
  const badValue = FastCheck.constantFrom("", "  ", "a\nb", "a\tb", "a\rb", "a     b", "x".repeat(1025))

  it.prop(
    "succeeds iff the variables exactly cover the placeholders with valid values, else names every offender",
    {
      placeholders: FastCheck.uniqueArray(name, { minLength: 0, maxLength: 6 }),
      supplied: FastCheck.array(
        FastCheck.tuple(FastCheck.integer({ min: 0, max: 5 }), FastCheck.boolean(), goodValue, badValue),
        {
          maxLength: 8
        }
      ),
      unknown: FastCheck.uniqueArray(
        name.map((n) => `zz_${n}`),
        { maxLength: 3 }
      )
    },
    ({ placeholders, supplied, unknown }) => {
      const t = template({
        components: [{ type: "BODY", text: `Hi ${placeholders.map((p) => `{{${p}}}`).join(" and ")}.` }]
      })
      const variables: Record<string, string> = {}
      const offenders = new Set<string>()
      for (const [index, valid, good, bad] of supplied) {
        const target = placeholders[index]
        if (target === undefined) continue
        variables[target] = valid ? good : bad
      }
      for (const p of placeholders) {
        const value = variables[p]
        if (
          value === undefined ||
          value.trim() === "" ||
          /[\n\r\t]/.test(value) ||
          / {5}/.test(value) ||
          value.length > 1024
        ) {
          offenders.add(p)
        }
      }
      for (const u of unknown) {
        variables[u] = "x"
        offenders.add(u)
      }
      const result = bind(t, variables)
      if (offenders.size === 0) {
        assert.isTrue(Either.isRight(result))
        const bound = Either.getOrThrow(result)
        const parameters = bound.components.flatMap((c) => c.parameters)
        assert.deepStrictEqual(
          parameters.map((p) => (p.type === "text" ? p.parameterName : undefined)),
          placeholders
        )
      } else {
        assert.isTrue(Either.isLeft(result))
        const named = new Set(Either.isLeft(result) ? result.left.problems.map((p) => p.variable) : [])
        assert.deepStrictEqual([...named].sort(), [...offenders].sort())
      }
    }
  )
})
