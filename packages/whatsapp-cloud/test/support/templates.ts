/**
 * Bound templates matching the send fixtures (`send-template-positional`, `send-template-named`), shared by the
 * payload and gateway tests.
 */
import type { BoundTemplate } from "@parley/core"

export const positional: BoundTemplate = {
  name: "order_shipped",
  language: "en_US",
  components: [
    { type: "header", parameters: [{ type: "text", text: "A-1001" }] },
    {
      type: "body",
      parameters: [
        { type: "text", text: "Ada" },
        { type: "text", text: "A-1001" },
        { type: "text", text: "Friday 9 January" }
      ]
    },
    { type: "button", subType: "url", index: 0, parameters: [{ type: "text", text: "A-1001" }] }
  ],
  renderedText: "Hi Ada, your order A-1001 ships Friday 9 January."
}

export const named: BoundTemplate = {
  name: "order_confirmation_named",
  language: "en_US",
  components: [
    {
      type: "body",
      parameters: [
        { type: "text", text: "Ada", parameterName: "first_name" },
        { type: "text", text: "A-1001", parameterName: "order_id" }
      ]
    }
  ],
  renderedText: "Thanks Ada, order A-1001 is confirmed."
}
