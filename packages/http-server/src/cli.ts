#!/usr/bin/env node
/**
 * `parley <resource> <action> ...` (`pnpm parley …` in this repository): the admin API for people. Talks to a
 * running service over HTTP. `parley serve` runs the service itself (main.ts), loaded only for that command.
 *
 * Where: `--url` (else `PARLEY_URL`, else `http://127.0.0.1:$PORT`, port 3000 by default). Who: `--admin-token`
 * (else `PARLEY_ADMIN_TOKEN`, else the token the service generated in `$PARLEY_DATA_DIR/admin-token`).
 * Prints the response's `data` as JSON; on an error prints the message and exits 1.
 */

import * as Fs from "node:fs"
import * as Path from "node:path"
import { stripVTControlCharacters } from "node:util"
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { allScopes, ParameterFormat, TemplateCategory, TemplateStatus } from "@parley/core"
import { Console, Effect, Option, Redacted, Schema } from "effect"
import { files } from "./DataDir.js"

class CliError {
  readonly _tag = "CliError"
  constructor(readonly message: string) {}
}

const connection = Options.all({
  url: Options.text("url").pipe(
    Options.withDescription("Base URL of the Parley service (default: PARLEY_URL or http://127.0.0.1:$PORT)"),
    Options.optional
  ),
  adminToken: Options.redacted("admin-token").pipe(
    Options.withDescription("Admin token (default: PARLEY_ADMIN_TOKEN or $PARLEY_DATA_DIR/admin-token)"),
    Options.optional
  )
})
type Connection = typeof connection extends Options.Options<infer A> ? A : never

const resolve = (options: Connection) =>
  Effect.gen(function* () {
    const env = process.env
    const url = Option.getOrElse(options.url, () => env.PARLEY_URL || `http://127.0.0.1:${env.PORT || "3000"}`)
    if (Option.isSome(options.adminToken)) return { url, token: Redacted.value(options.adminToken.value) }
    if (env.PARLEY_ADMIN_TOKEN) return { url, token: env.PARLEY_ADMIN_TOKEN }
    const file = Path.join(env.PARLEY_DATA_DIR || "./.parley", files.adminToken)
    const token = yield* Effect.try({
      try: () => Fs.readFileSync(file, "utf8").trim(),
      catch: () =>
        new CliError(`no admin token: pass --admin-token, set PARLEY_ADMIN_TOKEN, or run where ${file} exists`)
    })
    return { url, token }
  })

interface Answer {
  readonly message?: string
  readonly data?: unknown
  readonly page?: { readonly nextCursor?: string | null }
  readonly error?: { readonly code?: string }
}

const call = (options: Connection, method: string, path: string, body?: unknown) =>
  Effect.gen(function* () {
    const { url, token } = yield* resolve(options)
    const response = yield* Effect.tryPromise({
      try: () =>
        fetch(`${url.replace(/\/+$/, "")}/v1/admin${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        }),
      catch: (error) => new CliError(`cannot reach ${url}: ${error instanceof Error ? error.message : String(error)}`)
    })
    if (response.status === 204) return yield* Console.log(JSON.stringify({ ok: true }))
    const text = yield* Effect.promise(() => response.text())
    let json: Answer
    try {
      json = JSON.parse(text)
    } catch {
      return yield* Effect.fail(new CliError(`unexpected answer (${response.status}): ${text.slice(0, 200)}`))
    }
    if (!response.ok) {
      return yield* Effect.fail(
        new CliError(`${json.message ?? "request failed"} (${response.status} ${json.error?.code ?? ""})`)
      )
    }
    // Written as is: `Console.log` is rewrapped for help screens, which would break long JSON strings.
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(json.data, null, 2)}\n`))
    const next = (json as { readonly page?: { readonly nextCursor?: string | null } }).page?.nextCursor
    if (typeof next === "string") yield* Console.error(`next page: --cursor ${next}`)
  })

const business = Options.text("business").pipe(Options.withDescription("The business id"))
const name = Options.text("name")

// ---------------------------------------------------------------------------------------------------------------
// Lists: one page per call, like the API. `call` prints the items to stdout as JSON and the cursor of the next page,
// if any, to stderr, so `parley keys list ... | jq` sees only the items.

const paging = {
  limit: Options.integer("limit").pipe(Options.withDescription("Page size, 1-200 (default 50)"), Options.optional),
  cursor: Options.text("cursor").pipe(
    Options.withDescription("The cursor a previous page printed, for the next page"),
    Options.optional
  )
}

const listing = (
  o: { readonly connection: Connection; readonly limit: Option.Option<number>; readonly cursor: Option.Option<string> },
  path: string
) => {
  const query = new URLSearchParams()
  if (Option.isSome(o.limit)) query.set("limit", String(o.limit.value))
  if (Option.isSome(o.cursor)) query.set("cursor", o.cursor.value)
  const search = query.size === 0 ? "" : `?${query}`
  return call(o.connection, "GET", `${path}${search}`)
}

const list = (description: string, path: (business: string) => string) =>
  Command.make("list", { connection, business, ...paging }, (o) =>
    listing(o, path(encodeURIComponent(o.business)))
  ).pipe(Command.withDescription(description))

const listBusinesses = Command.make("list", { connection, ...paging }, (o) => listing(o, "/businesses")).pipe(
  Command.withDescription("List businesses, oldest first")
)
const listUsers = list("List a business's users", (b) => `/businesses/${b}/users`)
const listNumbers = list(
  "List a business's WhatsApp numbers (never their tokens)",
  (b) => `/businesses/${b}/whatsapp-numbers`
)
const listKeys = list(
  "List a business's API keys: prefix, scopes, created, last used (never the secret)",
  (b) => `/businesses/${b}/api-keys`
)
const listTemplates = list("List a business's templates", (b) => `/businesses/${b}/templates`)

// ---------------------------------------------------------------------------------------------------------------
// Secrets: a number's access token, and re-sealing the stored tokens after a key rotation.

const setAccessToken = Command.make(
  "set-access-token",
  {
    connection,
    business,
    number: Options.text("number").pipe(Options.withDescription("The WhatsApp number id")),
    accessToken: Options.redacted("access-token").pipe(
      Options.withDescription("The new Meta access token (stored encrypted)")
    )
  },
  (o) =>
    call(
      o.connection,
      "PUT",
      `/businesses/${encodeURIComponent(o.business)}/whatsapp-numbers/${encodeURIComponent(o.number)}/access-token`,
      { accessToken: Redacted.value(o.accessToken) }
    )
).pipe(Command.withDescription("Replace a number's Meta access token"))

const messagesPerSecond = Options.integer("messages-per-second").pipe(
  Options.withDescription("The number's throughput, 1 to 1000 messages per second (Meta: 80 standard, 1000 upgraded)")
)

const setThroughput = Command.make(
  "set-throughput",
  {
    connection,
    business,
    number: Options.text("number").pipe(Options.withDescription("The WhatsApp number id")),
    messagesPerSecond
  },
  (o) =>
    call(
      o.connection,
      "PATCH",
      `/businesses/${encodeURIComponent(o.business)}/whatsapp-numbers/${encodeURIComponent(o.number)}`,
      { messagesPerSecond: o.messagesPerSecond }
    )
).pipe(Command.withDescription("Set the messages per second Parley sends from a number at most"))

const secrets = Command.make("secrets").pipe(
  Command.withSubcommands([
    Command.make("reseal", { connection }, ({ connection }) => call(connection, "POST", "/secret-key/reseal")).pipe(
      Command.withDescription(
        "Re-seal every stored access token under PARLEY_SECRET_KEY (after a rotation; then retire the previous keys)"
      )
    )
  ])
)

const businesses = Command.make("businesses").pipe(
  Command.withSubcommands([
    Command.make("create", { connection, name }, ({ connection, name }) =>
      call(connection, "POST", "/businesses", { name })
    ).pipe(Command.withDescription("Create a business")),
    listBusinesses
  ])
)

const users = Command.make("users").pipe(
  Command.withSubcommands([
    Command.make("create", { connection, business, name }, ({ connection, business, name }) =>
      call(connection, "POST", `/businesses/${encodeURIComponent(business)}/users`, { name })
    ).pipe(Command.withDescription("Create a user of a business")),
    listUsers
  ])
)

const numbers = Command.make("numbers").pipe(
  Command.withSubcommands([
    Command.make(
      "create",
      {
        connection,
        business,
        provider: Options.choice("provider", ["whatsapp_cloud", "twilio"]).pipe(
          Options.withDescription("Who carries the number's messages"),
          Options.withDefault("whatsapp_cloud" as const)
        ),
        phoneNumberId: Options.text("phone-number-id").pipe(
          Options.withDescription("Meta's phone_number_id, or the Twilio sender's E.164 (+15550002222)")
        ),
        displayPhoneNumber: Options.text("display-phone-number"),
        wabaId: Options.text("waba-id").pipe(Options.optional),
        accessToken: Options.redacted("access-token").pipe(
          Options.withDescription("Meta access token, or the Twilio auth token (stored encrypted)")
        ),
        accountSid: Options.text("account-sid").pipe(
          Options.withDescription("Twilio only, required: the Account SID (AC…)"),
          Options.optional
        ),
        apiKeySid: Options.text("api-key-sid").pipe(
          Options.withDescription("Twilio only: an API key SID (SK…) to send with instead of the auth token"),
          Options.optional
        ),
        apiKeySecret: Options.redacted("api-key-secret").pipe(
          Options.withDescription("Twilio only, with --api-key-sid: the API key's secret (stored encrypted)"),
          Options.optional
        ),
        messagesPerSecond: messagesPerSecond.pipe(
          Options.withDescription("Default: the tier Meta reports for the number, or 80 when it does not say"),
          Options.optional
        )
      },
      (o) =>
        call(o.connection, "POST", `/businesses/${encodeURIComponent(o.business)}/whatsapp-numbers`, {
          ...(o.provider === "twilio" ? { provider: o.provider } : {}),
          phoneNumberId: o.phoneNumberId,
          displayPhoneNumber: o.displayPhoneNumber,
          ...(Option.isSome(o.wabaId) ? { wabaId: o.wabaId.value } : {}),
          accessToken: Redacted.value(o.accessToken),
          ...(Option.isSome(o.accountSid) ? { accountSid: o.accountSid.value } : {}),
          ...(Option.isSome(o.apiKeySid) ? { apiKeySid: o.apiKeySid.value } : {}),
          ...(Option.isSome(o.apiKeySecret) ? { apiKeySecret: Redacted.value(o.apiKeySecret.value) } : {}),
          ...(Option.isSome(o.messagesPerSecond) ? { messagesPerSecond: o.messagesPerSecond.value } : {})
        })
    ).pipe(Command.withDescription("Add a business's WhatsApp number (Meta's Cloud API or Twilio)")),
    listNumbers,
    setAccessToken,
    setThroughput
  ])
)

const keys = Command.make("keys").pipe(
  Command.withSubcommands([
    Command.make(
      "create",
      {
        connection,
        business,
        name: Options.text("name").pipe(Options.optional),
        user: Options.text("user").pipe(Options.withDescription("The user the key acts for"), Options.optional),
        // Required, as the API requires it: a key never gets every scope by omission.
        scopes: Options.choice("scope", allScopes).pipe(
          Options.atLeast(1),
          Options.withDescription("Repeat for several")
        )
      },
      (o) =>
        call(o.connection, "POST", `/businesses/${encodeURIComponent(o.business)}/api-keys`, {
          ...(Option.isSome(o.name) ? { name: o.name.value } : {}),
          ...(Option.isSome(o.user) ? { userId: o.user.value } : {}),
          scopes: o.scopes
        })
    ).pipe(Command.withDescription("Create an API key (the key is printed once)")),
    Command.make(
      "revoke",
      { connection, business, key: Options.text("key").pipe(Options.withDescription("The API key's id")) },
      (o) =>
        call(
          o.connection,
          "DELETE",
          `/businesses/${encodeURIComponent(o.business)}/api-keys/${encodeURIComponent(o.key)}`
        )
    ).pipe(Command.withDescription("Revoke an API key")),
    listKeys
  ])
)

const parseComponents = Schema.decodeUnknownEither(Schema.parseJson(Schema.Array(Schema.Unknown)))

const templates = Command.make("templates").pipe(
  Command.withSubcommands([
    Command.make(
      "create",
      {
        connection,
        business,
        key: Options.text("key").pipe(Options.withDescription("Your name for it, used by senders")),
        name: Options.text("name").pipe(Options.withDescription("Meta's template name")),
        // No defaults: the API has none for these, and a guessed language or status would be stored as if true.
        language: Options.text("language").pipe(Options.withDescription("Meta's language code, e.g. en or en_US")),
        category: Options.choice("category", TemplateCategory.literals),
        status: Options.choice("status", TemplateStatus.literals).pipe(
          Options.withDescription("Meta's review status; only APPROVED templates can be sent")
        ),
        parameterFormat: Options.choice("parameter-format", ParameterFormat.literals),
        body: Options.text("body").pipe(
          Options.withDescription('The BODY text, e.g. "Order {{order_id}} arrives {{eta}}"'),
          Options.optional
        ),
        components: Options.text("components").pipe(
          Options.withDescription("All components as JSON, in Meta's format (instead of --body)"),
          Options.optional
        )
      },
      (o) =>
        Effect.gen(function* () {
          const components = Option.isSome(o.components)
            ? yield* Effect.mapError(
                parseComponents(o.components.value),
                () => new CliError("--components must be a JSON array")
              )
            : Option.isSome(o.body)
              ? [{ type: "BODY", text: o.body.value }]
              : yield* Effect.fail(new CliError("pass --body or --components"))
          yield* call(o.connection, "POST", `/businesses/${encodeURIComponent(o.business)}/templates`, {
            key: o.key,
            name: o.name,
            language: o.language,
            category: o.category,
            status: o.status,
            parameterFormat: o.parameterFormat,
            components
          })
        })
    ).pipe(Command.withDescription("Create or replace a template")),
    Command.make(
      "sync",
      { connection, business, number: Options.text("number").pipe(Options.withDescription("The WhatsApp number id")) },
      (o) =>
        call(o.connection, "POST", `/businesses/${encodeURIComponent(o.business)}/templates/sync`, {
          whatsappNumberId: o.number
        })
    ).pipe(Command.withDescription("Pull the templates of the number's WhatsApp Business Account from Meta")),
    listTemplates
  ])
)

// Webhook items that failed (dead letters): list and replay.
const deadLetters = Command.make("dead-letters").pipe(
  Command.withSubcommands([
    Command.make(
      "list",
      {
        connection,
        state: Options.choice("state", ["retrying", "dead", "resolved"]).pipe(
          Options.withDescription("Only items in this state (default: all)"),
          Options.optional
        ),
        limit: Options.integer("limit").pipe(
          Options.withDescription("Page size, 1-200 (default 50)"),
          Options.optional
        ),
        cursor: Options.text("cursor").pipe(
          Options.withDescription("page.nextCursor of the previous page (printed on stderr)"),
          Options.optional
        )
      },
      (o) => {
        const query = new URLSearchParams()
        if (Option.isSome(o.state)) query.set("state", o.state.value)
        if (Option.isSome(o.limit)) query.set("limit", String(o.limit.value))
        if (Option.isSome(o.cursor)) query.set("cursor", o.cursor.value)
        const search = query.toString()
        return call(o.connection, "GET", `/webhook-dead-letters${search === "" ? "" : `?${search}`}`)
      }
    ).pipe(Command.withDescription("List webhook items the database refused, newest first")),
    Command.make(
      "replay",
      { connection, id: Options.text("id").pipe(Options.withDescription("The failed item's id")) },
      (o) => call(o.connection, "POST", `/webhook-dead-letters/${encodeURIComponent(o.id)}/replay`)
    ).pipe(Command.withDescription("Apply a failed webhook item again (exits 1 if it fails again)"))
  ])
)

// Outbound webhook endpoints of a business (the admin API under /businesses/:id/webhook-endpoints).
const endpointPath = (o: { readonly business: string }, id?: string, rest = "") =>
  `/businesses/${encodeURIComponent(o.business)}/webhook-endpoints${id === undefined ? "" : `/${encodeURIComponent(id)}`}${rest}`
const endpointId = Options.text("endpoint").pipe(Options.withDescription("The webhook endpoint's id"))
const eventTypes = Options.text("type").pipe(
  Options.withDescription("An event type to deliver (repeat; none means every type)"),
  Options.repeated
)
const endpoints = Command.make("endpoints").pipe(
  Command.withSubcommands([
    Command.make(
      "create",
      {
        connection,
        business,
        // Not --url: that names the Parley service.
        target: Options.text("target").pipe(Options.withDescription("The endpoint's URL, where deliveries go")),
        types: eventTypes
      },
      (o) => call(o.connection, "POST", endpointPath(o), { url: o.target, eventTypes: o.types })
    ).pipe(Command.withDescription("Register an endpoint; prints its signing secret, shown only this once")),
    Command.make("list", { connection, business }, (o) => call(o.connection, "GET", endpointPath(o))).pipe(
      Command.withDescription("List a business's webhook endpoints (disabledReason says why one stopped)")
    ),
    Command.make("enable", { connection, business, endpoint: endpointId }, (o) =>
      call(o.connection, "PATCH", endpointPath(o, o.endpoint), { enabled: true })
    ).pipe(Command.withDescription("Re-enable an endpoint (after 410 or the circuit); its pending deliveries resume")),
    Command.make("disable", { connection, business, endpoint: endpointId }, (o) =>
      call(o.connection, "PATCH", endpointPath(o, o.endpoint), { enabled: false })
    ).pipe(Command.withDescription("Pause an endpoint")),
    Command.make("delete", { connection, business, endpoint: endpointId }, (o) =>
      call(o.connection, "DELETE", endpointPath(o, o.endpoint))
    ).pipe(Command.withDescription("Delete an endpoint and its delivery log")),
    Command.make(
      "rotate-secret",
      {
        connection,
        business,
        endpoint: endpointId,
        overlap: Options.integer("overlap-seconds").pipe(
          Options.withDescription("How long the old secret keeps signing (default 86400)"),
          Options.optional
        )
      },
      (o) =>
        call(
          o.connection,
          "POST",
          endpointPath(o, o.endpoint, "/rotate-secret"),
          Option.isSome(o.overlap) ? { overlapSeconds: o.overlap.value } : {}
        )
    ).pipe(Command.withDescription("Rotate the signing secret; prints the new one, shown only this once")),
    Command.make("deliveries", { connection, business, endpoint: endpointId, ...paging }, (o) =>
      listing(o, endpointPath(o, o.endpoint, "/deliveries"))
    ).pipe(Command.withDescription("The endpoint's delivery log, newest first")),
    Command.make(
      "attempts",
      {
        connection,
        business,
        endpoint: endpointId,
        delivery: Options.text("delivery").pipe(Options.withDescription("The delivery's id (from `deliveries`)")),
        ...paging
      },
      (o) => listing(o, endpointPath(o, o.endpoint, `/deliveries/${encodeURIComponent(o.delivery)}/attempts`))
    ).pipe(Command.withDescription("Every attempt of one delivery: status, latency, error, response; newest first")),
    Command.make(
      "replay",
      {
        connection,
        business,
        endpoint: endpointId,
        event: Options.text("event").pipe(Options.withDescription("One event id"), Options.optional),
        since: Options.text("since").pipe(Options.withDescription("ISO time: events from here…"), Options.optional),
        until: Options.text("until").pipe(Options.withDescription("…until here (exclusive)"), Options.optional)
      },
      (o) =>
        call(
          o.connection,
          "POST",
          endpointPath(o, o.endpoint, "/replay"),
          Option.isSome(o.event)
            ? { eventId: o.event.value }
            : { since: Option.getOrUndefined(o.since), until: Option.getOrUndefined(o.until) }
        )
    ).pipe(Command.withDescription("Deliver one event (--event) or a time range (--since, --until) again"))
  ])
)

const webhooks = Command.make("webhooks").pipe(Command.withSubcommands([deadLetters, endpoints]))

const serve = Command.make("serve", {}, () => Effect.promise(() => import("./main.js"))).pipe(
  Command.withDescription("Run the Parley service (configured by environment variables; see the README)")
)

const parley = Command.make("parley").pipe(
  Command.withDescription(
    "Run or administer a Parley service: businesses, users, numbers, API keys, templates, secrets, webhook dead letters and endpoints"
  ),
  Command.withSubcommands([serve, businesses, users, numbers, keys, templates, secrets, webhooks])
)

const run = Command.run(parley, { name: "parley", version: "0.1.0" })

/** The words of the command being run, e.g. `parley keys create`: the arguments before the first option. */
const firstOption = process.argv.slice(2).findIndex((arg) => arg.startsWith("-"))
const commandPath = ["parley", ...process.argv.slice(2, firstOption === -1 ? undefined : firstOption + 2)]
// Help piped into a file or another program gets no colour codes; NO_COLOR asks the same of a terminal.
const plain = !process.stdout.isTTY || process.env.NO_COLOR !== undefined

const width = Math.min(process.stdout.columns || 100, 100)

/** Wraps a long line at spaces, continuing it 4 columns further in. */
const wrap = (line: string, indent: string): Array<string> => {
  const lines: Array<string> = []
  let current = ""
  for (const word of line.trim().split(" ")) {
    const prefix = lines.length === 0 && current === "" ? indent : `${indent}    `
    if (current !== "" && prefix.length + current.length + 1 + word.length > width) {
      lines.push(current)
      current = word
    } else {
      current = current === "" ? word : `${current} ${word}`
    }
  }
  lines.push(current)
  return lines.map((text, i) => `${i === 0 ? indent : `${indent}    `}${text}`)
}

/**
 * @effect/cli 0.77 prints a subcommand's usage under its own name only (`$ create …`) and pads the command list to
 * its longest usage (over 300 columns here): name the full path, and put each description under its usage.
 */
const readable = (text: string): string => {
  const named =
    commandPath.length > 1 ? text.replaceAll(`$ ${commandPath.at(-1)} `, `$ ${commandPath.join(" ")} `) : text
  const lines = named.split("\n").flatMap((line) => {
    const trimmed = line.trimEnd()
    if (stripVTControlCharacters(trimmed).length <= width) return [trimmed]
    const indent = /^\s*/.exec(trimmed)?.[0] ?? ""
    const [usage = "", description] = trimmed.trim().split(/\s{3,}/)
    return [...wrap(usage, indent), ...(description === undefined ? [] : wrap(description, `${indent}    `))]
  })
  const result = lines.join("\n")
  return plain ? stripVTControlCharacters(result) : result
}

const readableOutput = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Console.consoleWith((console) =>
    Effect.withConsole(effect, {
      ...console,
      log: (...args) => console.log(...args.map((arg) => (typeof arg === "string" ? readable(arg) : arg)))
    })
  )

run(process.argv).pipe(
  readableOutput,
  Effect.catchAll((error) =>
    Effect.sync(() => {
      if (error instanceof CliError) console.error(`parley: ${error.message}`)
      process.exitCode = 1
    })
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
