/**
 * A sandbox: the fake WhatsApp Cloud API as a standalone server.
 *
 *   pnpm fake-cloud-api --port 4010 \
 *     [--host 127.0.0.1] [--access-token TOKEN]... [--webhook-url URL --app-secret SECRET] [--templates file.json]
 *
 * Point Parley's gateway at it with `WHATSAPP_API_URL=http://127.0.0.1:4010`. With `--webhook-url` and
 * `--app-secret`, every accepted send is followed by signed `sent`, `delivered` and `read` status webhooks.
 * Script faults at runtime: `curl -X POST localhost:4010/_fake/faults -d '{"fault":{"kind":"graph-error","code":131047}}'`;
 * simulate a customer: `curl -X POST localhost:4010/_fake/inbound -d '{"url":"…","appSecret":"…","from":"+15550001111","text":"hi"}'`
 * (add `"timestamp"`, Unix seconds or an ISO 8601 date, for a message written in the past).
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { FakeCloudApiServer, type Options } from "../src/testing/FakeCloudApi.js"

// `pnpm fake-cloud-api -- --port 4010` (npm's habit) hands the script a leading `--`: skip it, or every option after
// it would be read as a positional argument and refused.
const args = process.argv.slice(2)
const { values } = parseArgs({
  args: args[0] === "--" ? args.slice(1) : args,
  options: {
    port: { type: "string", default: "4010" },
    host: { type: "string", default: "127.0.0.1" },
    "access-token": { type: "string", multiple: true },
    "webhook-url": { type: "string" },
    "app-secret": { type: "string" },
    templates: { type: "string" }
  }
})

const webhookUrl = values["webhook-url"]
const appSecret = values["app-secret"]
if ((webhookUrl === undefined) !== (appSecret === undefined)) {
  console.error("--webhook-url and --app-secret go together")
  process.exit(2)
}

const options: Options = {
  host: values.host,
  port: Number(values.port),
  ...(values["access-token"] ? { accessTokens: values["access-token"] } : {}),
  ...(webhookUrl && appSecret ? { autoStatuses: { url: webhookUrl, appSecret } } : {}),
  ...(values.templates
    ? { templates: JSON.parse(readFileSync(values.templates, "utf8")) as ReadonlyArray<unknown> }
    : {})
}

const fake = await FakeCloudApiServer.start(options)
console.log(`fake WhatsApp Cloud API listening on ${fake.url}`)
console.log(`  sends:     POST ${fake.url}/v24.0/{phone-number-id}/messages`)
console.log(`  templates: GET  ${fake.url}/v24.0/{waba-id}/message_templates`)
console.log(
  `  control:   GET  ${fake.url}/_fake/requests · POST /_fake/faults · /_fake/statuses · /_fake/inbound · /_fake/reset`
)

const stop = () => {
  fake.close().then(() => process.exit(0))
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
