/**
 * What the fake Twilio API works with: the requests it records and the sends it accepts, the faults a test scripts,
 * the accounts it knows, and its options.
 */
import type { InboundFields } from "./FakeTwilioPosts.js"

/** `media`: the Media resource (credentials required); `media-file`: the signed path it redirects to (none). */
export type Operation = "send" | "typing" | "content" | "approval" | "media" | "media-file" | "control" | "other"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly operation: Operation
  /** The form fields in arrival order (a repeated name once per value). */
  readonly form: ReadonlyArray<readonly [string, string]>
  /** The Basic-auth user name (Account SID or API key SID), when one was given. */
  readonly username: string | null
  /** The sid given to an accepted send. */
  readonly sid: string | null
}

export interface AcceptedSend {
  readonly sid: string
  readonly accountSid: string
  readonly from: string
  readonly to: string
  readonly body: string | null
  readonly contentSid: string | null
  readonly contentVariables: Readonly<Record<string, string>> | null
  readonly statusCallback: string | null
}

export type Fault =
  /** Answer with Twilio's error body for `code` (HTTP `status`, default from the code). */
  | {
      readonly kind: "twilio-error"
      readonly code: number
      readonly status?: number
      readonly message?: string
      readonly headers?: Readonly<Record<string, string>>
    }
  /** Read the request, then never answer (the client times out: outcome unknown). */
  | { readonly kind: "hang" }
  /** Read the request, then destroy the connection. */
  | { readonly kind: "reset" }
  /** Answer `status` with this body. */
  | { readonly kind: "raw"; readonly status: number; readonly body: string }

export interface FaultRule {
  readonly fault: Fault
  /** How many matching requests get the fault (default 1). */
  readonly times?: number | "always"
  /** Which operations it applies to (default sends and typing indicators). */
  readonly operations?: ReadonlyArray<Operation>
}

export interface Account {
  readonly accountSid: string
  readonly authToken: string
  readonly apiKeys?: ReadonlyArray<{ readonly sid: string; readonly secret: string }>
}

export interface Options {
  readonly host?: string
  /** 0 (default): a port chosen by the OS. */
  readonly port?: number
  readonly accounts: ReadonlyArray<Account>
  /** Content resources as `GET /v1/Content` lists them. */
  readonly contents?: ReadonlyArray<Record<string, unknown>>
  /** `whatsapp` approval objects by Content SID (absent: not submitted, 404). */
  readonly approvals?: Readonly<Record<string, Record<string, unknown>>>
  /** After each accepted send with a `StatusCallback`, post signed `sent`, `delivered` and `read` callbacks. */
  readonly autoStatuses?: boolean
}

/** A status callback to post for an accepted send (`sendStatus`): to its `StatusCallback` unless `url` is given. */
export interface StatusCallbackRequest {
  readonly sid: string
  readonly status: string
  readonly errorCode?: number
  readonly errorMessage?: string
  readonly url?: string
}

/**
 * A customer's message to post to `url` (`sendInbound`); `from` and `to` as `whatsapp:+E164`, `accountSid` by default
 * the fake's first account.
 */
export interface InboundRequest extends Omit<InboundFields, "accountSid"> {
  readonly url: string
  readonly accountSid?: string
  /** A file the customer sent: held as the message's Media (its `MM…` sid), posted as `MediaUrl0`. */
  readonly media?: { readonly contentType: string; readonly bytes: Uint8Array }
}
