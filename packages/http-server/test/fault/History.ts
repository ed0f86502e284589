/**
 * What the run saw, and nothing else: every request the clients made with what they were told, the windows in
 * which the nemesis was injecting a fault, what reached the fake Cloud API, the statuses a reader observed, and
 * what the API returns once everything settled. The checker judges this record only. All times are milliseconds
 * since the run started.
 */
import type { UpstreamSend } from "./FaultyUpstream.js"
import type { Exit } from "./Processes.js"

export type Answer =
  | {
      readonly kind: "http"
      readonly status: number
      /** `error.code` of an error body. */
      readonly code: string | null
      /** `data.id` of a message, or `error.details.messageId`. */
      readonly messageId: string | null
      /** `data.deliveryStatus` of a message. */
      readonly deliveryStatus: string | null
      readonly replayed: boolean
    }
  /** No HTTP answer: refused or reset connection, or the client's timeout. */
  | { readonly kind: "transport"; readonly reason: string }

export interface Attempt {
  /** Which process the request went to. */
  readonly slot: number
  readonly start: number
  readonly end: number
  readonly answer: Answer
}

/** One send as a client sees it: one Idempotency-Key, retried until it gets a final answer. */
export interface SendOp {
  readonly key: string
  /** Unique per key, so what reached the fake is matched to its key by text. */
  readonly text: string
  readonly tenant: number
  readonly conversationId: string
  readonly attempts: Array<Attempt>
}

/** One signed webhook POST body (Meta's "delivery"), with every time it was posted. */
export interface WebhookDelivery {
  readonly id: number
  readonly tenant: number
  readonly kind: "inbound" | "status"
  /** Inbound: the messages' wamids. */
  readonly wamids: ReadonlyArray<string>
  /** Status: which message (our id, from `biz_opaque_callback_data`) and which status. */
  readonly statuses: ReadonlyArray<{ readonly messageId: string; readonly status: string }>
  readonly attempts: Array<Attempt>
}

export interface FaultWindow {
  readonly kind: "process" | "database" | "provider"
  /** The process killed (a process window); null for the others, which touch every process. */
  readonly slot: number | null
  readonly start: number
  readonly end: number
  readonly detail: string
}

/** A message's delivery status as a sequential reader saw it. */
export interface Observation {
  readonly messageId: string
  readonly status: string
  readonly start: number
  readonly end: number
}

export interface FinalMessage {
  readonly tenant: number
  readonly conversationId: string
  readonly id: string
  readonly direction: string
  readonly text: string | null
  readonly deliveryStatus: string
  readonly providerMessageId: string | null
}

/** A send the fake accepted (Meta has it). */
export interface ProviderSend {
  readonly text: string | null
  readonly wamid: string
  readonly callback: string | null
}

/** An event of the feed as read after settling. */
export interface FinalEvent {
  readonly tenant: number
  readonly id: string
  readonly type: string
  readonly conversationId: string | null
  readonly sequence: number | null
  /** `data.message.id` and `data.message.deliveryStatus` of a message event. */
  readonly messageId: string | null
  readonly deliveryStatus: string | null
}

export interface InboundMessage {
  readonly wamid: string
  readonly tenant: number
}

export interface History {
  readonly seed: number
  readonly sends: ReadonlyArray<SendOp>
  readonly deliveries: ReadonlyArray<WebhookDelivery>
  readonly inbound: ReadonlyArray<InboundMessage>
  /** Other requests (the reader's GETs), for the 5xx check. */
  readonly reads: ReadonlyArray<Attempt>
  readonly windows: ReadonlyArray<FaultWindow>
  readonly observations: ReadonlyArray<Observation>
  readonly final: ReadonlyArray<FinalMessage>
  /** Every tenant's event feed, read from its start after settling. */
  readonly events: ReadonlyArray<FinalEvent>
  readonly providerSends: ReadonlyArray<ProviderSend>
  readonly upstream: ReadonlyArray<UpstreamSend>
  readonly exits: ReadonlyArray<Exit>
  /**
   * How long after its first attempt an unsettled send may take to become final: the service's unconfirmed-send
   * timeout (PARLEY_UNCONFIRMED_SEND_TIMEOUT) plus the period of the sweeper that fails such sends.
   */
  readonly unconfirmedTimeoutMillis: number
  /** When the final state was read. */
  readonly settledAt: number
}
