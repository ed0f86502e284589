/**
 * What the webhook tests share: the app secret the fixtures are signed with, a Cloud API envelope around one change's
 * value, and decoding that must succeed.
 */
import { assert } from "@effect/vitest"
import { Either, Redacted } from "effect"
import * as Webhook from "../../src/Webhook.js"

export const secret = Redacted.make("fake_app_secret_do_not_use")

export const envelope = (
  value: Record<string, unknown>,
  options: { readonly phoneNumberId?: string; readonly field?: string } = {}
) => ({
  object: "whatsapp_business_account",
  entry: [
    {
      id: "100000000000001",
      changes: [
        {
          field: options.field ?? "messages",
          value: {
            messaging_product: "whatsapp",
            metadata: {
              display_phone_number: "15550002222",
              phone_number_id: options.phoneNumberId ?? "200000000000002"
            },
            ...value
          }
        }
      ]
    }
  ]
})

export const decodeRight = (body: unknown) => {
  const result = Webhook.decodeUnknown(body)
  if (Either.isLeft(result)) throw new Error(`expected a batch, got ${result.left.message}`)
  return result.right
}

export const only = <A>(items: ReadonlyArray<A>): A => {
  assert.strictEqual(items.length, 1)
  return items[0] as A
}
