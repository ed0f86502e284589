// A Parley webhook receiver in plain Node: node:http and node:crypto, no framework, no dependency.
//
//   WEBHOOK_SECRET=whsec_... PORT=4000 node receiver.mjs
//
// It verifies each delivery the way Standard Webhooks specifies (HMAC-SHA256 over `id.timestamp.body`, the raw
// bytes as received), refuses timestamps more than 5 minutes away, accepts any of several secrets (a rotation),
// drops repeats by `webhook-id`, then acknowledges with 204 before doing the work.
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import { pathToFileURL } from "node:url"

const toleranceSeconds = 5 * 60

/** The key bytes of a `whsec_` secret. */
const keyOf = (secret) => Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64")

/**
 * Whether `body` (the raw request body, a Buffer or string) was signed by Parley with one of `secrets`. Returns the
 * parsed event, or throws with the reason.
 */
export const verify = (secrets, headers, body, nowSeconds = Math.floor(Date.now() / 1000)) => {
  const id = headers["webhook-id"]
  const timestamp = headers["webhook-timestamp"]
  const signatures = headers["webhook-signature"]
  if (!id || !timestamp || !signatures) throw new Error("missing webhook headers")
  const seconds = Number(timestamp)
  if (!Number.isInteger(seconds) || Math.abs(nowSeconds - seconds) > toleranceSeconds) {
    throw new Error("timestamp outside the tolerance")
  }
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8")
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, "utf8"), payload])
  const expected = secrets.map((secret) => createHmac("sha256", keyOf(secret)).update(signed).digest())
  for (const entry of signatures.split(" ")) {
    const [version, value] = entry.split(",")
    if (version !== "v1" || value === undefined) continue
    const given = Buffer.from(value, "base64")
    if (expected.some((digest) => digest.length === given.length && timingSafeEqual(digest, given))) {
      return JSON.parse(payload.toString("utf8"))
    }
  }
  throw new Error("no valid signature")
}

/** An http.Server that verifies deliveries and hands each new event to `onEvent` once. */
export const createReceiver = ({ secrets, onEvent }) => {
  // Deliveries are at least once: a lost acknowledgement means a retry. Keep ids longer than the retry span in
  // production (a database unique key); memory is enough for the example.
  const seen = new Set()
  return createServer((request, response) => {
    const chunks = []
    request.on("data", (chunk) => chunks.push(chunk))
    request.on("end", () => {
      let event
      try {
        event = verify(secrets, request.headers, Buffer.concat(chunks))
      } catch (error) {
        response.writeHead(401).end(String(error.message))
        return
      }
      response.writeHead(204).end()
      if (seen.has(event.id)) return
      seen.add(event.id)
      onEvent(event)
    })
  })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const secrets = (process.env.WEBHOOK_SECRET ?? "").split(/[ ,]+/).filter((s) => s !== "")
  if (secrets.length === 0) throw new Error("set WEBHOOK_SECRET to the endpoint's whsec_ secret")
  const server = createReceiver({
    secrets,
    onEvent: (event) => console.log(`${event.type} ${event.id} ${JSON.stringify(event.data)}`)
  })
  server.listen(Number(process.env.PORT ?? 4000), () => console.log(`listening on ${JSON.stringify(server.address())}`))
}
