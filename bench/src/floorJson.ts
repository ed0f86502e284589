/**
 * The floor's JSON: a conversation and a message as Parley's API writes them, field for field, from their rows.
 * Shared by the floor's reads (floor.ts) and its send (floorSends.ts).
 */

export type Row = Record<string, unknown>

const windowMs = 24 * 60 * 60 * 1000

const iso = (value: unknown) => (value instanceof Date ? value.toISOString() : null)

export const conversationJson = (row: Row, now: number) => {
  const lastInbound = row.last_inbound_at instanceof Date ? row.last_inbound_at.getTime() : null
  const closes = lastInbound === null ? null : lastInbound + windowMs
  return {
    id: row.id,
    businessId: row.business_id,
    whatsappNumberId: row.whatsapp_number_id,
    customerPhone: row.customer_phone,
    customerName: row.customer_name,
    status: row.status,
    mode: row.mode,
    unreadCount: row.unread_count,
    assignedUserId: row.assigned_user_id,
    lastInboundAt: iso(row.last_inbound_at),
    lastOutboundAt: iso(row.last_outbound_at),
    lastActivityAt: iso(row.last_activity_at),
    windowClosesAt: closes !== null && now < closes ? new Date(closes).toISOString() : null,
    createdAt: iso(row.created_at)
  }
}

export const messageJson = (row: Row) => {
  const template = row.template as Row | null
  const media = row.media as Row | null
  return {
    id: row.id,
    conversationId: row.conversation_id,
    direction: row.direction,
    messageType: row.message_type,
    text: row.text,
    deliveryStatus: row.delivery_status,
    createdAt: iso(row.created_at),
    template:
      template === null
        ? null
        : { key: template.key, name: template.name, language: template.language, variables: template.variables },
    media:
      media === null
        ? null
        : {
            providerMediaId: media.providerMediaId ?? null,
            url: media.url ?? null,
            mimeType: media.mimeType ?? null,
            sha256: media.sha256 ?? null,
            filename: media.filename ?? null
          },
    content: row.content,
    failure: row.failure_code === null ? null : { code: row.failure_code, title: row.failure_title ?? "" },
    providerMessageId: row.provider_message_id,
    replyToProviderMessageId: row.reply_to_provider_message_id
  }
}
