/**
 * The fake Cloud API's `GET /{version}/{waba-id}/message_templates`: the templates it holds, in pages with Meta's
 * cursors and `next` link.
 */

/** The page of `templates` that `url` asks for (`limit`, `after`); `baseUrl` is the fake's, for the `next` link. */
export const templatePage = (templates: ReadonlyArray<unknown>, url: URL, baseUrl: string) => {
  const limit = Math.max(1, Math.min(1000, Number(url.searchParams.get("limit") ?? "25") || 25))
  const after = url.searchParams.get("after")
  const offset = after === null ? 0 : Number(Buffer.from(after, "base64url").toString("utf8")) || 0
  const data = templates.slice(offset, offset + limit)
  const end = offset + data.length
  const cursor = (n: number) => Buffer.from(String(n), "utf8").toString("base64url")
  const paging: Record<string, unknown> = { cursors: { before: cursor(offset), after: cursor(end) } }
  if (end < templates.length) {
    const next = new URL(url.pathname, baseUrl)
    for (const [k, v] of url.searchParams) if (k !== "after") next.searchParams.set(k, v)
    next.searchParams.set("after", cursor(end))
    paging.next = next.toString()
  }
  return { data, paging }
}
