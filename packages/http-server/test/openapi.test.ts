/**
 * The served `/openapi.json` is a document clients can be generated from: `@redocly/cli lint` (recommended rules)
 * finds no problem; `openapi-typescript` generates types from it; a small `openapi-fetch` client type-checks
 * against those types (and a wrong one does not); and that client, run against the real server, calls every
 * operation the document lists, each answering 2xx.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"
import { TestDatabase } from "@parley/postgres/testing"
import { TwilioWebhook } from "@parley/twilio"
import { Webhook } from "@parley/whatsapp-cloud"
import { FakeCloudApi } from "@parley/whatsapp-cloud/testing"
import { Either, Option, Schema, SchemaAST } from "effect"
import createClient from "openapi-fetch"
import openapiTS, { astToString } from "openapi-typescript"
import ts from "typescript"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Api from "../src/Api.js"
import * as WebhookEndpointsApi from "../src/WebhookEndpointsApi.js"
import { clientSource, wrongClientSource } from "./support/generatedClient.js"
import {
  adminToken,
  appSecret,
  envelope,
  type Harness,
  inboundChange,
  nextPhone,
  start,
  verifyToken
} from "./support/Harness.js"

const run = promisify(execFile)
const packageDir = Path.resolve(import.meta.dirname, "..")
/** What Twilio's webhooks are signed over: the URL a proxy publishes, not the loopback one the server sees. */
const publicUrl = "https://parley.example.test"
const redocly = Path.join(packageDir, "node_modules", "@redocly", "cli", "bin", "cli.js")
const openapiFetchTypes = Path.join(packageDir, "node_modules", "openapi-fetch", "dist", "index.d.mts")

interface Spec {
  readonly paths: Record<string, Record<string, { readonly operationId?: string }>>
}

const methods = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"])

describe("the OpenAPI document", () => {
  let h: Harness
  let dir: string
  let spec: Spec
  let specText: string

  beforeAll(async () => {
    h = await start({ name: "PGlite", database: () => TestDatabase.pglite }, { publicUrl })
    dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "parley-openapi-"))
    const response = await fetch(`${h.url}/openapi.json`)
    specText = await response.text()
    spec = JSON.parse(specText) as Spec
    Fs.writeFileSync(Path.join(dir, "openapi.json"), specText)
  }, 120_000)
  afterAll(async () => {
    await h?.close()
    if (dir !== undefined) Fs.rmSync(dir, { recursive: true, force: true })
  })

  it("passes redocly lint (recommended rules) with no error and no warning", async () => {
    const result = await run(process.execPath, [redocly, "lint", Path.join(dir, "openapi.json"), "--format=json"], {
      cwd: dir
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }))
    const report = JSON.parse(result.stdout) as {
      totals: { errors: number; warnings: number }
      problems: ReadonlyArray<{ ruleId: string; message: string }>
    }
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([])
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 })
  }, 60_000)

  it("has a summary, an operationId and, for a request body, examples that the server accepts, on every operation", () => {
    const schemas = (JSON.parse(specText) as { components: { schemas: Record<string, { examples?: unknown }> } })
      .components.schemas
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const op = operation as {
          operationId?: string
          summary?: string
          requestBody?: {
            content: Record<
              string,
              {
                schema: {
                  $ref?: string
                  examples?: unknown
                  anyOf?: ReadonlyArray<{ $ref?: string; examples?: unknown }>
                }
              }
            >
          }
        }
        expect(op.operationId, `${method} ${path}`).toBeTruthy()
        expect(op.summary, `${method} ${path}`).toBeTruthy()
        for (const media of Object.values(op.requestBody?.content ?? {})) {
          // A body of several shapes (text or media) has examples on each of them.
          for (const member of media.schema.anyOf ?? [media.schema]) {
            const ref = member.$ref
            const schema = ref === undefined ? member : schemas[ref.replace("#/components/schemas/", "")]
            expect(Array.isArray(schema?.examples) && schema.examples.length > 0, `${method} ${path}`).toBe(true)
          }
        }
      }
    }
    // Every example is a valid request: decoding it with the endpoint's own schema succeeds.
    for (const body of [
      Api.SendTextBody,
      Api.SendMediaBody,
      Api.SendMessageBody,
      Api.SendTemplateBody,
      Api.UpdateConversationBody,
      Api.CreateBusinessBody,
      Api.CreateUserBody,
      Api.CreateWhatsAppNumberBody,
      Api.CreateApiKeyBody,
      Api.CreateTemplateBody,
      Api.SyncTemplatesBody,
      Api.ReplaceAccessTokenBody,
      Api.WebhookEnvelope,
      WebhookEndpointsApi.CreateWebhookEndpointBody,
      WebhookEndpointsApi.UpdateWebhookEndpointBody,
      WebhookEndpointsApi.RotateSecretBody
    ]) {
      const examples = Option.getOrElse(SchemaAST.getExamplesAnnotation(body.ast), () => [])
      expect(examples.length).toBeGreaterThan(0)
      for (const example of examples) {
        expect(Either.isRight(Schema.decodeUnknownEither(body as Schema.Schema<unknown, unknown>)(example))).toBe(true)
      }
    }
  })

  it("the replay body's examples (documented on the struct inside its either-or check) decode", () => {
    const examples = Option.getOrElse(
      SchemaAST.getExamplesAnnotation(WebhookEndpointsApi.ReplayBody.from.ast),
      () => []
    )
    expect(examples.length).toBeGreaterThan(0)
    for (const example of examples) {
      expect(Either.isRight(Schema.decodeUnknownEither(WebhookEndpointsApi.ReplayBody)(example))).toBe(true)
    }
    expect(Either.isLeft(Schema.decodeUnknownEither(WebhookEndpointsApi.ReplayBody)({}))).toBe(true)
    expect(
      Either.isLeft(
        Schema.decodeUnknownEither(WebhookEndpointsApi.ReplayBody)({
          eventId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b",
          since: "2026-01-01T00:00:00Z"
        })
      )
    ).toBe(true)
  })

  it("documents what Parley POSTs to a webhook endpoint: one OpenAPI 3.1 webhook per event type", () => {
    const webhooks = (JSON.parse(specText) as { webhooks?: Record<string, { post?: { requestBody?: unknown } }> })
      .webhooks
    expect(Object.keys(webhooks ?? {}).sort()).toEqual([...WebhookEndpointsApi.EventType.literals].sort())
    const received = JSON.stringify(webhooks?.["message.received"]?.post)
    for (const header of ["webhook-id", "webhook-timestamp", "webhook-signature"]) expect(received).toContain(header)
    // Each type's body is the feed's named envelope of that type: one set of shapes for the feed and the webhooks.
    const schemas = (spec as { components?: { schemas?: Record<string, unknown> } }).components?.schemas ?? {}
    const named = {
      "message.received": "MessageReceivedEvent",
      "message.sent": "MessageSentEvent",
      "message.status_updated": "MessageStatusUpdatedEvent",
      "conversation.created": "ConversationCreatedEvent",
      "conversation.updated": "ConversationUpdatedEvent",
      "template.status_updated": "TemplateStatusUpdatedEvent"
    } as const satisfies Record<WebhookEndpointsApi.EventType, string>
    for (const [type, name] of Object.entries(named)) {
      const body = (
        webhooks?.[type]?.post?.requestBody as
          | { content?: { "application/json"?: { schema?: { $ref?: string } } } }
          | undefined
      )?.content?.["application/json"]?.schema
      expect(body).toEqual({ $ref: `#/components/schemas/${name}` })
      expect(schemas[name]).toBeDefined()
    }
    expect(schemas.WebhookEvent).toBeUndefined()
    // The named envelope says which type it is: a generator reading the webhook gets the narrowed shape.
    expect(JSON.stringify(schemas.MessageReceivedEvent)).toContain('"message.received"')
  })

  it("names every event payload as a component, and documents the stream as text/event-stream", () => {
    const components = (spec as { components?: { schemas?: Record<string, unknown> } }).components?.schemas ?? {}
    for (const name of [
      "MessageReceivedEvent",
      "MessageSentEvent",
      "MessageStatusUpdatedEvent",
      "ConversationCreatedEvent",
      "ConversationUpdatedEvent",
      "TemplateStatusUpdatedEvent"
    ]) {
      expect(components[name], name).toBeDefined()
    }
    const stream = spec.paths["/v1/messaging/events/stream"]?.get as
      | { responses?: Record<string, { content?: Record<string, unknown> }> }
      | undefined
    expect(Object.keys(stream?.responses?.["200"]?.content ?? {})).toEqual(["text/event-stream"])
  })

  it("names the error envelope once and refers to it from every error response", () => {
    const errors = Object.values(spec.paths).flatMap((item) =>
      Object.entries(item).flatMap(([, operation]) =>
        Object.entries((operation as { responses?: Record<string, unknown> }).responses ?? {}).filter(
          ([status]) => Number(status) >= 400
        )
      )
    )
    expect(errors.length).toBeGreaterThan(20)
    for (const [, response] of errors) {
      expect(response).toMatchObject({
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } }
      })
    }
  })

  it("generates TypeScript types with openapi-typescript; a client type-checks against them, a wrong one does not", async () => {
    const types = astToString(await openapiTS(JSON.parse(specText)))
    expect(types).toContain("Error: {")
    Fs.writeFileSync(Path.join(dir, "schema.d.ts"), types)
    Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ type: "module" }))
    Fs.writeFileSync(Path.join(dir, "client.ts"), clientSource)
    Fs.writeFileSync(Path.join(dir, "wrong.ts"), wrongClientSource)

    // One program over both files: the generated types are checked once.
    const program = ts.createProgram([Path.join(dir, "client.ts"), Path.join(dir, "wrong.ts")], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
      types: [],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      noEmit: true,
      paths: { "openapi-fetch": [openapiFetchTypes] }
    })
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ({
      file: Path.basename(d.file?.fileName ?? ""),
      line: d.file === undefined || d.start === undefined ? -1 : d.file.getLineAndCharacterOfPosition(d.start).line,
      text: ts.flattenDiagnosticMessageText(d.messageText, "\n")
    }))
    const diagnosticsOf = (file: string) => diagnostics.filter((d) => d.file === file)
    expect(diagnosticsOf("client.ts").map((d) => `${d.file}:${d.line + 1}: ${d.text}`)).toEqual([])
    // Every line that follows a `// WRONG` comment is refused, and nothing else is.
    const wrongLines = wrongClientSource
      .split("\n")
      .flatMap((line, index) => (line.trim().startsWith("// WRONG") ? [index + 1] : []))
    expect(wrongLines).toHaveLength(3)
    const refused = new Set(diagnosticsOf("wrong.ts").map((d) => d.line))
    expect([...refused].sort((a, b) => a - b)).toEqual(wrongLines)
  }, 120_000)

  it("the generated client calls every operation against the running service, each answering 2xx", async () => {
    const source = Fs.readFileSync(Path.join(dir, "client.ts"), "utf8")
    const js = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true }
    }).outputText
    const file = Path.join(dir, "client.mjs")
    Fs.writeFileSync(file, js)
    const client = (await import(pathToFileURL(file).href)) as {
      run: (create: typeof createClient, context: unknown) => Promise<void>
    }

    const calls: Array<{ method: string; path: string; status: number }> = []
    const customer = nextPhone()
    await client.run(createClient, {
      baseUrl: h.url,
      adminToken,
      verifyToken,
      phoneNumberId: "200000000000002",
      wabaId: "100000000000001",
      accessToken: "token-a",
      customerWaId: customer,
      inbound: () => {
        const raw = FakeCloudApi.metaJson(
          envelope(inboundChange("200000000000002", [{ from: customer, text: "Where is my order?" }]))
        )
        return { raw, signature: Webhook.sign(raw, appSecret) }
      },
      twilioInbound: (twilioNumber: string) => {
        const params: ReadonlyArray<readonly [string, string]> = [
          ["MessageSid", "SM0123456789abcdef0123456789abcdef"],
          ["AccountSid", "AC0123456789abcdef0123456789abcdef"],
          ["From", `whatsapp:+${customer}`],
          ["To", `whatsapp:${twilioNumber}`],
          ["Body", "Hello from Twilio"],
          ["NumMedia", "0"],
          ["WaId", customer],
          ["ProfileName", "Ana"]
        ]
        return {
          raw: new URLSearchParams(params.map(([name, value]): [string, string] => [name, value])).toString(),
          signature: TwilioWebhook.sign(`${publicUrl}/webhooks/twilio`, params, "twilio-auth-token")
        }
      },
      record: (call: { method: string; path: string; status: number }) => calls.push(call)
    })

    const documented = Object.entries(spec.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => methods.has(method))
        .map((method) => `${method.toUpperCase()} ${path}`)
    )
    // Replaying a dead letter needs an item the database refused; here it is called with an unknown id (404).
    const calledOnly = new Set(["POST /v1/admin/webhook-dead-letters/{id}/replay"])
    const succeeded = new Set(
      calls
        .filter(
          (c) => (c.status >= 200 && c.status < 300) || (calledOnly.has(`${c.method} ${c.path}`) && c.status === 404)
        )
        .map((c) => `${c.method} ${c.path}`)
    )
    // A new endpoint fails here until test/support/generatedClient.ts calls it.
    expect(
      documented.filter((operation) => !succeeded.has(operation)),
      "operations the generated client did not call successfully (add them to test/support/generatedClient.ts)"
    ).toEqual([])
    expect(documented.length).toBeGreaterThanOrEqual(22)
  }, 120_000)
})
