/**
 * The fake Twilio API's media: files held like Twilio's Media subresource of a message
 * (`/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}`), answered with a 307 redirect to a signed, short path on a
 * second route (`/_media/{token}`, no credentials, like Twilio's media host), and forgotten on `DELETE` (404 after).
 */
import { randomBytes } from "node:crypto"
import type * as Http from "node:http"
import { makeSid as sid } from "./FakeTwilioPosts.js"

export interface StoredMedia {
  readonly accountSid: string
  readonly messageSid: string
  readonly mediaSid: string
  readonly contentType: string
  readonly bytes: Uint8Array
}

/** The Media subresource's path; the groups are the account, message and media SIDs. */
export const resourcePath = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\/Media\/([^/.]+)(?:\.json)?$/

/** The signed path the resource redirects to. */
export const signedPath = /^\/_media\/([0-9a-f]{32})$/

export class MediaStore {
  readonly #files = new Map<string, StoredMedia>()
  readonly #signed = new Map<string, string>()

  /** Holds a file as if a customer had sent it in message `messageSid` (default: a fresh `MM…`). */
  put(input: {
    readonly accountSid: string
    readonly contentType: string
    readonly bytes: Uint8Array
    readonly messageSid?: string
  }): StoredMedia {
    const file: StoredMedia = {
      accountSid: input.accountSid,
      messageSid: input.messageSid ?? sid("MM"),
      mediaSid: sid("ME"),
      contentType: input.contentType,
      bytes: input.bytes
    }
    this.#files.set(file.mediaSid, file)
    return file
  }

  /** Forgets a file (Twilio's `DELETE` on the Media resource); true when it was held. */
  delete(mediaSid: string): boolean {
    return this.#files.delete(mediaSid)
  }

  /** The file at a resource path's SIDs, when it is held there. */
  find(accountSid: string, messageSid: string, mediaSid: string): StoredMedia | undefined {
    const file = this.#files.get(mediaSid)
    return file !== undefined && file.accountSid === accountSid && file.messageSid === messageSid ? file : undefined
  }

  /** A one-off token for the signed path of a held file. */
  sign(file: StoredMedia): string {
    const token = randomBytes(16).toString("hex")
    this.#signed.set(token, file.mediaSid)
    return token
  }

  /** Serves the signed path: the bytes with their type, 404 when the token is unknown or the file deleted. */
  serveSigned(token: string, response: Http.ServerResponse): void {
    const mediaSid = this.#signed.get(token)
    const file = mediaSid === undefined ? undefined : this.#files.get(mediaSid)
    if (file === undefined) {
      response.writeHead(404, { "content-type": "text/plain" })
      response.end("not found")
      return
    }
    response.writeHead(200, { "content-type": file.contentType, "content-length": String(file.bytes.length) })
    response.end(file.bytes)
  }
}
