/**
 * The fake Twilio API's Content API: `GET /v1/Content` in Twilio's pages, and a content's WhatsApp approval
 * (`GET /v1/Content/{sid}/ApprovalRequests`).
 */

/** The page of `contents` that `url` asks for (`PageSize`, `Page`); `baseUrl` is the fake's, for the page links. */
export const contentPage = (contents: ReadonlyArray<Record<string, unknown>>, url: URL, baseUrl: string) => {
  const pageSize = Math.max(1, Math.min(500, Number(url.searchParams.get("PageSize") ?? "50") || 50))
  const page = Math.max(0, Number(url.searchParams.get("Page") ?? "0") || 0)
  const slice = contents.slice(page * pageSize, (page + 1) * pageSize)
  const more = (page + 1) * pageSize < contents.length
  return {
    contents: slice,
    meta: {
      page,
      page_size: pageSize,
      first_page_url: `${baseUrl}/v1/Content?PageSize=${pageSize}&Page=0`,
      previous_page_url: null,
      url: `${baseUrl}/v1/Content?PageSize=${pageSize}&Page=${page}`,
      next_page_url: more ? `${baseUrl}/v1/Content?PageSize=${pageSize}&Page=${page + 1}` : null,
      key: "contents"
    }
  }
}

/** The approval request of content `sid`, whose `whatsapp` approval object is given. */
export const approvalRequest = (
  sid: string,
  accountSid: string,
  baseUrl: string,
  whatsapp: Record<string, unknown>
) => ({
  sid,
  account_sid: accountSid,
  url: `${baseUrl}/v1/Content/${sid}/ApprovalRequests`,
  whatsapp
})
