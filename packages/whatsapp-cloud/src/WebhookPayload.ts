/**
 * Schemas of Meta's webhook payloads (Graph v23–v25 shapes). They are deliberately layered: the envelope, each
 * entry, each change and each message or status decode on their own, so one item Parley does not understand never
 * hides the others. Unknown fields are ignored by every struct.
 */
import { DateTime, Option, ParseResult, Schema } from "effect"

/**
 * The last second of the year 9999. A later time is no real message's: stored, it could not be read back (24 hours
 * past the largest JavaScript date is no date at all, and answered 500) or not stored at all (PGlite refuses
 * years past 9999), so it fails to decode like any other malformed time.
 */
const latestEpochSeconds = 253_402_300_799

/** Meta's Unix epoch seconds, usually as a string (`"1767261600"`), as a UTC date-time, 1970 to 9999. */
export const EpochSeconds = Schema.transformOrFail(
  Schema.Union(Schema.String, Schema.Number),
  Schema.DateTimeUtcFromSelf,
  {
    strict: true,
    decode: (raw, _, ast) => {
      const seconds = typeof raw === "number" ? raw : /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN
      const inRange = Number.isFinite(seconds) && seconds >= 0 && seconds <= latestEpochSeconds
      return Option.match(inRange ? DateTime.make(seconds * 1000) : Option.none(), {
        onNone: () => ParseResult.fail(new ParseResult.Type(ast, raw, "expected Unix epoch seconds")),
        onSome: (dateTime) => ParseResult.succeed(dateTime)
      })
    },
    encode: (dateTime) => ParseResult.succeed(String(Math.floor(DateTime.toEpochMillis(dateTime) / 1000)))
  }
)

// ---------------------------------------------------------------------------------------------------------------
// Envelope

export const Envelope = Schema.Struct({
  object: Schema.optional(Schema.String),
  entry: Schema.Array(Schema.Unknown)
})

export const Entry = Schema.Struct({
  /** The WABA id. */
  id: Schema.optional(Schema.String),
  changes: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
})

export const Change = Schema.Struct({
  field: Schema.String,
  value: Schema.Unknown
})

export const Metadata = Schema.Struct({
  display_phone_number: Schema.optional(Schema.String),
  phone_number_id: Schema.String.pipe(Schema.minLength(1))
})

/** `value` of a `field: "message_template_status_update"` change (routed by the WABA, `entry[].id`). */
export const TemplateStatusValue = Schema.Struct({
  /** A review status (APPROVED, REJECTED, PAUSED, …) or a notice (FLAGGED, REINSTATED, LOCKED, …). */
  event: Schema.String,
  message_template_name: Schema.String.pipe(Schema.minLength(1)),
  message_template_language: Schema.String.pipe(Schema.minLength(1))
})

/** `value` of a `field: "messages"` change; its arrays decode item by item. */
export const MessagesValue = Schema.Struct({
  messaging_product: Schema.optional(Schema.String),
  metadata: Metadata,
  contacts: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] }),
  messages: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] }),
  statuses: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] }),
  errors: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] })
})

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

export const Contact = Schema.Struct({
  profile: Schema.optional(
    Schema.Struct({ name: Schema.optional(Schema.String), username: Schema.optional(Schema.String) })
  ),
  wa_id: Schema.optional(Schema.String),
  /** Business-scoped user id (2026). */
  user_id: Schema.optional(Schema.String),
  parent_user_id: Schema.optional(Schema.String),
  identity_key_hash: Schema.optional(Schema.String)
})
export type Contact = typeof Contact.Type

/** A Graph error as it appears in `statuses[].errors`, `messages[].errors` and `value.errors`. */
export const ErrorItem = Schema.Struct({
  code: Schema.Number,
  title: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  error_data: Schema.optional(Schema.Struct({ details: Schema.optional(Schema.String) })),
  href: Schema.optional(Schema.String)
})
export type ErrorItem = typeof ErrorItem.Type

export const MessageContext = Schema.Struct({
  from: Schema.optional(Schema.String),
  id: Schema.optional(Schema.String),
  forwarded: Schema.optional(Schema.Boolean),
  frequently_forwarded: Schema.optional(Schema.Boolean),
  referred_product: Schema.optional(
    Schema.Struct({
      catalog_id: Schema.optional(Schema.String),
      product_retailer_id: Schema.optional(Schema.String)
    })
  )
})

/** Click-to-WhatsApp ad or post origin (free entry point windows). */
export const Referral = Schema.Struct({
  source_url: Schema.optional(Schema.String),
  source_id: Schema.optional(Schema.String),
  source_type: Schema.optional(Schema.String),
  headline: Schema.optional(Schema.String),
  body: Schema.optional(Schema.String),
  media_type: Schema.optional(Schema.String),
  image_url: Schema.optional(Schema.String),
  video_url: Schema.optional(Schema.String),
  thumbnail_url: Schema.optional(Schema.String),
  ctwa_clid: Schema.optional(Schema.String),
  welcome_message: Schema.optional(Schema.Struct({ text: Schema.optional(Schema.String) }))
})

/** What every inbound message carries, whatever its type. */
export const MessageBase = Schema.Struct({
  /** Sender `wa_id`; may be empty for username adopters (2026), then `from_user_id` names them. */
  from: Schema.optionalWith(Schema.String, { default: () => "" }),
  from_user_id: Schema.optional(Schema.String),
  id: Schema.String.pipe(Schema.minLength(1)),
  timestamp: EpochSeconds,
  type: Schema.String,
  context: Schema.optional(MessageContext),
  referral: Schema.optional(Referral),
  errors: Schema.optional(Schema.Array(ErrorItem))
})
export type MessageBase = typeof MessageBase.Type

// ---------------------------------------------------------------------------------------------------------------
// Per-type content

export const Media = Schema.Struct({
  id: Schema.String,
  mime_type: Schema.optional(Schema.String),
  sha256: Schema.optional(Schema.String),
  caption: Schema.optional(Schema.String),
  filename: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String),
  /** audio: a voice note. */
  voice: Schema.optional(Schema.Boolean),
  /** sticker: animated. */
  animated: Schema.optional(Schema.Boolean)
})
export type Media = typeof Media.Type

export const Location = Schema.Struct({
  latitude: Schema.Number,
  longitude: Schema.Number,
  name: Schema.optional(Schema.String),
  address: Schema.optional(Schema.String),
  url: Schema.optional(Schema.String)
})

/** A shared contact card; kept as Meta sends it. */
export const SharedContact = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const Interactive = Schema.Union(
  Schema.Struct({
    type: Schema.Literal("button_reply"),
    button_reply: Schema.Struct({ id: Schema.String, title: Schema.String })
  }),
  Schema.Struct({
    type: Schema.Literal("list_reply"),
    list_reply: Schema.Struct({
      id: Schema.String,
      title: Schema.String,
      description: Schema.optional(Schema.String)
    })
  }),
  Schema.Struct({
    type: Schema.Literal("nfm_reply"),
    nfm_reply: Schema.Struct({
      name: Schema.optional(Schema.String),
      body: Schema.optional(Schema.String),
      response_json: Schema.optional(Schema.String)
    })
  }),
  /** `call_permission_reply` and later kinds: kept as sent. */
  Schema.Struct({ type: Schema.String })
)
export type Interactive = typeof Interactive.Type

export const Button = Schema.Struct({ payload: Schema.optional(Schema.String), text: Schema.String })

export const Reaction = Schema.Struct({ message_id: Schema.String, emoji: Schema.optional(Schema.String) })

export const Order = Schema.Struct({
  catalog_id: Schema.String,
  text: Schema.optional(Schema.String),
  product_items: Schema.Array(
    Schema.Struct({
      product_retailer_id: Schema.String,
      quantity: Schema.Number,
      item_price: Schema.Number,
      currency: Schema.String
    })
  )
})

export const System = Schema.Struct({
  body: Schema.optional(Schema.String),
  /** `user_changed_number`, `customer_identity_changed`, `user_changed_user_id`, … */
  type: Schema.optional(Schema.String),
  wa_id: Schema.optional(Schema.String),
  identity: Schema.optional(Schema.String),
  user_id: Schema.optional(Schema.String)
})

/** The type-specific content of the message types Parley understands, keyed by `type`. */
export const MessageContent = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.Struct({ body: Schema.String }) }),
  Schema.Struct({ type: Schema.Literal("image"), image: Media }),
  Schema.Struct({ type: Schema.Literal("audio"), audio: Media }),
  Schema.Struct({ type: Schema.Literal("video"), video: Media }),
  Schema.Struct({ type: Schema.Literal("document"), document: Media }),
  Schema.Struct({ type: Schema.Literal("sticker"), sticker: Media }),
  Schema.Struct({ type: Schema.Literal("location"), location: Location }),
  Schema.Struct({ type: Schema.Literal("contacts"), contacts: Schema.Array(SharedContact) }),
  Schema.Struct({ type: Schema.Literal("interactive"), interactive: Interactive }),
  Schema.Struct({ type: Schema.Literal("button"), button: Button }),
  Schema.Struct({ type: Schema.Literal("reaction"), reaction: Reaction }),
  Schema.Struct({ type: Schema.Literal("order"), order: Order }),
  Schema.Struct({ type: Schema.Literal("system"), system: System })
)
export type MessageContent = typeof MessageContent.Type

// ---------------------------------------------------------------------------------------------------------------
// Statuses

export const Pricing = Schema.Struct({
  billable: Schema.optional(Schema.Boolean),
  pricing_model: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  category: Schema.optional(Schema.String)
})

export const Status = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1)),
  /** `sent`, `delivered`, `read`, `played`, `failed`, or a value Meta adds later. */
  status: Schema.String,
  timestamp: EpochSeconds,
  recipient_id: Schema.optional(Schema.String),
  recipient_user_id: Schema.optional(Schema.String),
  biz_opaque_callback_data: Schema.optional(Schema.String),
  conversation: Schema.optional(Schema.Unknown),
  pricing: Schema.optional(Pricing),
  errors: Schema.optional(Schema.Array(ErrorItem))
})
export type Status = typeof Status.Type
