/**
 * The admin endpoints for secrets, through a real server on PGlite and PostgreSQL: replacing a number's Meta access
 * token (the next send uses the new one; another business's number is not found; the token is never echoed), and
 * re-sealing the stored tokens (counts; 409 `access_tokens_unreadable` when a token opens with no configured key).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  createTenant,
  customerWrites,
  type Envelope,
  type ErrorReply,
  engines,
  type Harness,
  start,
  type Tenant
} from "./support/Harness.js"

for (const engine of await engines()) {
  describe(`admin secrets on ${engine.name}`, () => {
    let h: Harness
    let a: Tenant
    let b: Tenant
    beforeAll(async () => {
      h = await start(engine)
      a = await createTenant(h, "Alpha", "200000000000002", "token-a")
      b = await createTenant(h, "Beta", "200000000000003", "token-a")
    }, 60_000)
    afterAll(async () => {
      await h?.close()
    })

    const tokenPath = (t: Tenant, numberId = t.numberId) =>
      `/businesses/${t.businessId}/whatsapp-numbers/${numberId}/access-token`

    const send = async (t: Tenant) => {
      const { conversation } = await customerWrites(h, t)
      return h.call<ErrorReply>("POST", `/v1/messaging/conversations/${conversation.id}/messages`, {
        key: t.key,
        body: { text: "hello" }
      })
    }

    it("replaces a number's access token: the next send carries the new one, the answer never shows it", async () => {
      const refused = await h.admin<Envelope<unknown>>("PUT", tokenPath(a), { accessToken: "token-unknown-to-meta" })
      expect(refused.status).toBe(200)
      expect(refused.text).not.toContain("token-unknown-to-meta")
      const failed = await send(a)
      expect([failed.status, failed.body.error.code]).toEqual([502, "provider_misconfigured"])

      const replaced = await h.admin<Envelope<{ id: string; phoneNumberId: string }>>("PUT", tokenPath(a), {
        accessToken: "token-b"
      })
      expect(replaced.status).toBe(200)
      expect(replaced.body.data).toMatchObject({ id: a.numberId, phoneNumberId: a.phoneNumberId })
      expect(replaced.text).not.toContain("token-b")
      const sent = await send(a)
      expect(sent.status).toBe(201)
      const last = h.fake.requests.filter((r) => r.operation === "send").at(-1)
      expect(last?.headers.authorization).toBe("Bearer token-b")
    }, 60_000)

    it("a number is replaced only under its own business; bad ids and bodies are 4xx", async () => {
      const cross = await h.admin("PUT", tokenPath(a, b.numberId), { accessToken: "token-b" })
      expect([cross.status, cross.body.error.code]).toEqual([404, "whatsapp_number_not_found"])
      const notUuid = await h.admin("PUT", tokenPath(a, "nope"), { accessToken: "token-b" })
      expect([notUuid.status, notUuid.body.error.code]).toEqual([404, "whatsapp_number_not_found"])
      const empty = await h.admin("PUT", tokenPath(a), { accessToken: "" })
      expect([empty.status, empty.body.error.code]).toEqual([400, "invalid_request"])
      const extra = await h.admin("PUT", tokenPath(a), { accessToken: "token-b", other: 1 })
      expect(extra.status).toBe(400)
      const noAuth = await h.call("PUT", `/v1/admin${tokenPath(a)}`, { body: { accessToken: "token-b" } })
      expect(noAuth.status).toBe(401)
      // b's token is untouched by the refused attempt.
      expect((await send(b)).status).toBe(201)
    }, 60_000)

    it("re-seals the stored tokens; a token no configured key opens is a 409 and nothing changes", async () => {
      const reseal = await h.admin<Envelope<{ total: number; resealed: number; alreadyCurrent: number }>>(
        "POST",
        "/secret-key/reseal"
      )
      expect(reseal.status).toBe(200)
      expect(reseal.body.data).toEqual({ total: 2, resealed: 0, alreadyCurrent: 2 })

      const before = await h.query<{ id: string; access_token_sealed: string }>(
        "SELECT id, access_token_sealed FROM whatsapp_numbers ORDER BY id"
      )
      // Sealed under a key this server does not have (another key id, same shape).
      await h.query(
        `UPDATE whatsapp_numbers SET access_token_sealed = 'v1.AAAAAAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA'
         WHERE id = '${b.numberId}'`
      )
      const refused = await h.admin("POST", "/secret-key/reseal")
      expect([refused.status, refused.body.error.code]).toEqual([409, "access_tokens_unreadable"])
      expect(refused.body.error.details).toEqual({ unreadable: 1, total: 2 })
      const after = await h.query<{ id: string; access_token_sealed: string }>(
        "SELECT id, access_token_sealed FROM whatsapp_numbers ORDER BY id"
      )
      expect(after.find((r) => r.id === a.numberId)).toEqual(before.find((r) => r.id === a.numberId))
    }, 60_000)
  })
}
