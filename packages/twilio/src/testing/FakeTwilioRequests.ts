/**
 * How the fake Twilio API reads a request and writes an answer: its body, which resource and operation it is, whose
 * Basic credentials it carries, and a JSON answer.
 */
import type * as Http from "node:http"
import { resourcePath, signedPath } from "./FakeTwilioMedia.js"
import type { Account, FaultRule, Operation } from "./FakeTwilioModel.js"

/** A fault rule with what is left of its `times`. */
export interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

export const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

export const json = (
  response: Http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}

/** The operation a request is, with what its path names (account, content, media), by the resource it matched. */
export const routeOf = (method: string, path: string) => {
  const messages = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path)
  const approval = /^\/v1\/Content\/([^/]+)\/ApprovalRequests$/.exec(path)
  const mediaResource = resourcePath.exec(path)
  const signed = signedPath.exec(path)
  const operation: Operation = path.startsWith("/_fake/")
    ? "control"
    : mediaResource && (method === "GET" || method === "DELETE")
      ? "media"
      : signed && method === "GET"
        ? "media-file"
        : messages && method === "POST"
          ? "send"
          : path === "/v2/Indicators/Typing.json" && method === "POST"
            ? "typing"
            : path === "/v1/Content" && method === "GET"
              ? "content"
              : approval && method === "GET"
                ? "approval"
                : "other"
  return { operation, messages, approval, mediaResource, signed }
}

/** The account the Basic credentials belong to (by its auth token or one of its API keys), or null. */
export const authenticate = (
  accounts: ReadonlyArray<Account>,
  header: string | undefined
): { readonly account: Account; readonly username: string } | null => {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? "")
  if (match?.[1] === undefined) return null
  const decoded = Buffer.from(match[1], "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon < 0) return null
  const username = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  for (const account of accounts) {
    if (account.accountSid === username && account.authToken === password) return { account, username }
    if ((account.apiKeys ?? []).some((k) => k.sid === username && k.secret === password)) {
      return { account, username }
    }
  }
  return null
}
