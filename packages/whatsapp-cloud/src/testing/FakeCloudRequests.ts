/**
 * How the fake Cloud API reads a request and writes an answer: which operation a request is, whether a scripted
 * fault matches it, its headers and JSON body, and a JSON answer.
 */
import type * as Http from "node:http"
import type { FaultRule, Operation } from "./FakeCloudModel.js"
import { phoneNumberIdOf } from "./FakeThroughput.js"

/** A fault rule with what is left of its `times`. */
export interface ActiveRule {
  readonly rule: FaultRule
  remaining: number
}

export const operationOf = (
  method: string,
  path: string,
  body: unknown
): { operation: Operation; id: string | null } => {
  if (path.startsWith("/_fake/")) return { operation: "control", id: null }
  const messages = /^\/[^/]+\/([^/]+)\/messages\/?$/.exec(path)
  if (messages && method === "POST") {
    const isRead = typeof body === "object" && body !== null && (body as Record<string, unknown>).status === "read"
    return { operation: isRead ? "read" : "send", id: decodeURIComponent(messages[1] ?? "") }
  }
  if (method === "GET" && /^\/[^/]+\/[^/]+\/message_templates\/?$/.test(path))
    return { operation: "templates", id: null }
  const numberId = method === "GET" ? phoneNumberIdOf(path) : null
  if (numberId !== null) return { operation: "number", id: numberId }
  return { operation: "other", id: null }
}

export const ruleMatches = (rule: FaultRule, method: string, path: string, operation: Operation, body: unknown) => {
  const match = rule.match
  const operations = match?.operation === undefined ? ["send", "read"] : [match.operation].flat()
  if (!operations.includes(operation)) return false
  if (match?.method !== undefined && match.method.toUpperCase() !== method) return false
  if (match?.path !== undefined) {
    if (typeof match.path === "string" ? !path.includes(match.path) : !match.path.test(path)) return false
  }
  if (match?.to !== undefined) {
    const to = typeof body === "object" && body !== null ? (body as Record<string, unknown>).to : undefined
    if (to !== match.to) return false
  }
  return true
}

export const headersOf = (headers: Http.IncomingHttpHeaders): Record<string, string> => {
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

export const parseJson = (raw: string): unknown => {
  if (raw.length === 0) return null
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return null
  }
}

export const sendJson = (
  res: Http.ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {}
) => {
  if (res.destroyed) return
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers })
  res.end(JSON.stringify(body))
}
