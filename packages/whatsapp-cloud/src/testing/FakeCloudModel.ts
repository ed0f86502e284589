/**
 * What the fake Cloud API works with: the requests it records and the sends it accepts, the faults a test scripts,
 * the webhooks it emits, and its options.
 */
import type { HeldMedia } from "./FakeMedia.js"
import type { ThroughputLevel } from "./FakeThroughput.js"

/** What a request asked for. */
export type Operation = "send" | "read" | "templates" | "number" | "control" | "other"

/** What the fake did with a request. */
export type Answer = "accepted" | "graph-error" | "raw" | "dropped" | "hung" | "not-found"

export interface RecordedRequest {
  readonly method: string
  /** The path without the query, e.g. `/v24.0/200000000000002/messages`. */
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** The parsed JSON body, or `null` when there was none or it was not JSON. */
  readonly body: unknown
  readonly rawBody: string
  /** Wall-clock milliseconds when the whole request had been read. */
  readonly receivedAt: number
  readonly operation: Operation
  /** The phone number id of a send or read (`/{version}/{phone-number-id}/messages`). */
  readonly phoneNumberId: string | null
  readonly answer: Answer
  /** The wamid answered to an accepted send. */
  readonly wamid: string | null
}

/** An accepted send, as Meta would have taken it. */
export interface AcceptedSend {
  readonly wamid: string
  readonly phoneNumberId: string
  readonly to: string
  readonly type: string
  readonly bizOpaqueCallbackData: string | null
  readonly body: Readonly<Record<string, unknown>>
  readonly receivedAt: number
}

export type Fault =
  /** A Graph error envelope with this code (HTTP status from Meta's table unless given). */
  | {
      readonly kind: "graph-error"
      readonly code: number
      readonly httpStatus?: number
      readonly message?: string
      readonly details?: string
      readonly headers?: Readonly<Record<string, string>>
    }
  /** Wait, then answer normally. */
  | { readonly kind: "latency"; readonly millis: number }
  /** Read the request, record it, never answer (the client's timeout decides): the ambiguous case. */
  | { readonly kind: "hang" }
  /** Read the request, record it, then destroy the connection without answering. */
  | { readonly kind: "drop" }
  /** Answer exactly this (e.g. a 200 whose body is not JSON). */
  | {
      readonly kind: "raw"
      readonly status: number
      readonly body: string
      readonly headers?: Readonly<Record<string, string>>
    }

export interface FaultRule {
  readonly fault: Fault
  /** How many matching requests it applies to (default 1). */
  readonly times?: number | "always"
  /** Which requests it applies to (default: sends and reads). */
  readonly match?: {
    readonly operation?: Operation | ReadonlyArray<Operation>
    readonly method?: string
    /** A substring of the path, or a pattern. */
    readonly path?: string | RegExp
    /** The `to` of a send. */
    readonly to?: string
  }
}

export type WebhookStatus = "sent" | "delivered" | "read" | "failed" | "played"

export interface StatusWebhook {
  readonly wamid: string
  readonly status: WebhookStatus
  readonly recipientId: string
  readonly bizOpaqueCallbackData?: string | null
  /** Unix seconds (default: now). */
  readonly timestamp?: number
  readonly phoneNumberId?: string
  /** For `failed`; default a 131047 when the status is failed and no error is given. */
  readonly error?: { readonly code: number; readonly title: string; readonly details?: string }
}

export interface InboundTextWebhook {
  readonly from: string
  readonly text: string
  readonly profileName?: string
  readonly wamid?: string
  /** Unix seconds (default: now). */
  readonly timestamp?: number
  readonly phoneNumberId?: string
}

/** A customer's media message: a file the fake holds (`server.media.put`), announced by webhook. */
export interface InboundMediaWebhook {
  readonly from: string
  readonly kind: "image" | "audio" | "video" | "document" | "sticker"
  readonly media: HeldMedia
  readonly caption?: string
  readonly filename?: string
  readonly voice?: boolean
  readonly animated?: boolean
  readonly profileName?: string
  readonly wamid?: string
  readonly phoneNumberId?: string
}

export interface WebhookTarget {
  readonly url: string
  readonly appSecret: string
}

export interface WebhookDelivery {
  readonly status: number
  readonly body: string
  readonly rawBody: string
  readonly signature: string
}

export interface Options {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0 (any free port). */
  readonly port?: number
  /** When given, sends with any other bearer token get Meta's 190 "invalid OAuth access token". */
  readonly accessTokens?: ReadonlyArray<string>
  /** Identity used in emitted webhooks. */
  readonly wabaId?: string
  readonly phoneNumberId?: string
  readonly displayPhoneNumber?: string
  /** Throughput levels by phone number id (`STANDARD` for any other number). */
  readonly throughput?: Readonly<Record<string, ThroughputLevel>>
  /** Templates served by `GET /{version}/{waba-id}/message_templates`. */
  readonly templates?: ReadonlyArray<unknown>
  /** After each accepted send, emit these statuses to this target (a sandbox convenience). */
  readonly autoStatuses?: WebhookTarget & {
    readonly sequence?: ReadonlyArray<WebhookStatus>
    readonly delayMillis?: number
  }
}
