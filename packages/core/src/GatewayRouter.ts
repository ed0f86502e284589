/**
 * One `MessagingGateway` made of one gateway per provider: every call goes to the gateway of its `from` number's
 * provider, so a business can run some numbers on Meta's Cloud API and others on Twilio in the same Parley. It adds
 * no rule of its own: the service window and every other check run in the inbox before any gateway is called.
 */
import { Effect, Layer } from "effect"
import { MessagingGateway, ProviderMisconfigured } from "./MessagingGateway.js"
import type { ProviderName, WhatsAppNumber } from "./WhatsAppNumber.js"

/** The gateway of each provider the host runs; a provider left out refuses its numbers' sends. */
export type Gateways = { readonly [P in ProviderName]?: MessagingGateway["Type"] | undefined }

/** A number whose provider has no gateway here: an operator must configure it; nothing was sent. */
const unrouted = (from: WhatsAppNumber) =>
  new ProviderMisconfigured({ code: null, title: `no gateway is configured for provider "${from.provider}"` })

export const make = (gateways: Gateways): MessagingGateway["Type"] => {
  const route = <A, E, R>(
    from: WhatsAppNumber,
    call: (gateway: MessagingGateway["Type"]) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | ProviderMisconfigured, R> => {
    const gateway = gateways[from.provider]
    return gateway === undefined ? Effect.fail(unrouted(from)) : call(gateway)
  }
  return MessagingGateway.of({
    sendText: (request) => route(request.from, (gateway) => gateway.sendText(request)),
    sendTemplate: (request) => route(request.from, (gateway) => gateway.sendTemplate(request)),
    sendMedia: (request) => route(request.from, (gateway) => gateway.sendMedia(request)),
    fetchMedia: (request) => route(request.from, (gateway) => gateway.fetchMedia(request)),
    uploadMedia: (request) => route(request.from, (gateway) => gateway.uploadMedia(request)),
    markRead: (request) => route(request.from, (gateway) => gateway.markRead(request))
  })
}

/** The router as the `MessagingGateway`, over gateways built in the same context (e.g. on one `HttpClient`). */
export const layer = <E, R>(gateways: Effect.Effect<Gateways, E, R>): Layer.Layer<MessagingGateway, E, R> =>
  Layer.effect(MessagingGateway, Effect.map(gateways, make))
