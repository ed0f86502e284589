/**
 * The fake Cloud API's `POST /{version}/{phone-number-id}/messages` for sends: what Meta refuses a send for (as a
 * Graph error 100), and what it answers to one it accepts.
 */

/** A send the fake accepts: its body, and the recipient and type it names. */
export interface CheckedSend {
  readonly message: Readonly<Record<string, unknown>>
  readonly to: string
  readonly type: string
}

/** The send in `body`, or the details of the Graph error 100 Meta would refuse it with. */
export const checkSend = (body: unknown): CheckedSend | { readonly problem: string } => {
  const invalid = (problem: string) => ({ problem })
  if (typeof body !== "object" || body === null) return invalid("The request body must be JSON")
  const message = body as Record<string, unknown>
  if (message.messaging_product !== "whatsapp") return invalid("messaging_product must be whatsapp")
  if (typeof message.to !== "string" || message.to.length === 0) return invalid("to is required")
  if (typeof message.type !== "string") return invalid("type is required")
  const content = message[message.type]
  if (typeof content !== "object" || content === null) return invalid(`${message.type} object is required`)
  if (message.type === "text") {
    const text = (content as Record<string, unknown>).body
    if (typeof text !== "string" || text.length === 0 || text.length > 4096) {
      return invalid("text.body must be 1 to 4096 characters")
    }
  }
  if (["image", "audio", "video", "document", "sticker"].includes(message.type)) {
    const media = content as Record<string, unknown>
    if ((typeof media.id === "string") === (typeof media.link === "string")) {
      return invalid(`${message.type} must have exactly one of id or link`)
    }
  }
  if (message.type === "template" && typeof (content as Record<string, unknown>).name !== "string") {
    return invalid("template.name is required")
  }
  return { message, to: message.to, type: message.type }
}

/** Meta's answer to an accepted send (a template's carries its `message_status`). */
export const sendAnswer = (send: CheckedSend, wamid: string) => ({
  messaging_product: "whatsapp",
  contacts: [{ input: send.to, wa_id: send.to.replace(/\D+/g, "") }],
  messages: [send.type === "template" ? { id: wamid, message_status: "accepted" } : { id: wamid }]
})
