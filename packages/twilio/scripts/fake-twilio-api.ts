/**
 * A sandbox: the fake Twilio API as a standalone server.
 *
 *   pnpm fake-twilio-api --port 4020 --account AC…:AUTH_TOKEN [--api-key AC…:SK…:SECRET]... \
 *     [--auto-statuses] [--contents contents.json] [--approvals approvals.json] [--host 127.0.0.1]
 *
 * Point Parley's Twilio gateway at it (`apiBaseUrl`, `contentBaseUrl` and `messagingBaseUrl` all
 * `http://127.0.0.1:4020`). With `--auto-statuses`, every accepted send with a `StatusCallback` is followed by signed
 * `sent`, `delivered` and `read` callbacks. Script faults at runtime:
 * `curl -X POST localhost:4020/_fake/faults -d '{"fault":{"kind":"twilio-error","code":63016}}'`;
 * a status: `curl -X POST localhost:4020/_fake/statuses -d '{"sid":"SM…","status":"undelivered","errorCode":63016}'`;
 * a customer writing: `curl -X POST localhost:4020/_fake/inbound -d '{"url":"…","from":"whatsapp:+15550001111","to":"whatsapp:+15550002222","body":"hi"}'`.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { type Account, FakeTwilioApiServer } from "../src/testing/FakeTwilioApi.js"

// `pnpm fake-twilio-api -- --port 4020` (npm's habit) hands the script a leading `--`: skip it.
const args = process.argv.slice(2)
const { values } = parseArgs({
  args: args[0] === "--" ? args.slice(1) : args,
  options: {
    port: { type: "string", default: "4020" },
    host: { type: "string", default: "127.0.0.1" },
    account: { type: "string", multiple: true },
    "api-key": { type: "string", multiple: true },
    "auto-statuses": { type: "boolean", default: false },
    contents: { type: "string" },
    approvals: { type: "string" }
  }
})

const accounts: Array<Account> = (values.account ?? []).map((value) => {
  const [accountSid = "", authToken = ""] = value.split(":")
  const apiKeys = (values["api-key"] ?? [])
    .map((key) => key.split(":"))
    .filter(([owner]) => owner === accountSid)
    .map(([, sid = "", secret = ""]) => ({ sid, secret }))
  return { accountSid, authToken, apiKeys }
})
if (accounts.length === 0 || accounts.some((a) => !/^AC/.test(a.accountSid) || a.authToken.length === 0)) {
  console.error("give at least one --account AC…:AUTH_TOKEN")
  process.exit(2)
}

const readJson = (path: string | undefined): unknown =>
  path === undefined ? undefined : JSON.parse(readFileSync(path, "utf8"))

const fake = await FakeTwilioApiServer.start({
  host: values.host,
  port: Number(values.port),
  accounts,
  autoStatuses: values["auto-statuses"],
  ...(values.contents ? { contents: readJson(values.contents) as ReadonlyArray<Record<string, unknown>> } : {}),
  ...(values.approvals
    ? { approvals: readJson(values.approvals) as Readonly<Record<string, Record<string, unknown>>> }
    : {})
})
console.log(`fake Twilio API listening on ${fake.url}`)
console.log(`  sends:     POST ${fake.url}/2010-04-01/Accounts/{AccountSid}/Messages.json`)
console.log(`  content:   GET  ${fake.url}/v1/Content · /v1/Content/{sid}/ApprovalRequests`)
console.log(`  typing:    POST ${fake.url}/v2/Indicators/Typing.json`)
console.log(
  `  control:   GET  ${fake.url}/_fake/requests · /_fake/sends · POST /_fake/faults · /_fake/statuses · /_fake/inbound · /_fake/reset`
)

const stop = () => {
  fake.close().then(() => process.exit(0))
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
