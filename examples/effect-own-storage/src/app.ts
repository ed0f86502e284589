/**
 * The app's Parley: the core's use cases (`Inbox`) on the app's own storage adapter (`TenantStorage`), with
 * whichever `MessagingGateway` the app is given (Meta's, from `@parley/whatsapp-cloud`, in production).
 */
import { Ids, Inbox, type MessagingGateway } from "@parley/core"
import { Layer } from "effect"
import * as TenantStorage from "./TenantStorage.js"

export const layer = <E, R>(gateway: Layer.Layer<MessagingGateway, E, R>) =>
  Inbox.layer().pipe(Layer.provideMerge(Layer.mergeAll(TenantStorage.layer, gateway, Ids.layerUuidV7)))
