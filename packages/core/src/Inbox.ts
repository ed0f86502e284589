/**
 * The use cases: what a business (through an API key's actor) and its provider (through webhooks) can do to the
 * inbox. `Inbox` needs the ports and provides none: the host picks the adapters.
 */
import { type Context, DateTime, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import { type Actor, requireScope } from "./Actor.js"
import { Conversation, ConversationNotFound, ConversationPatch, type ConversationStatus } from "./Conversation.js"
import { type ConversationQuery, ConversationRepository } from "./ConversationRepository.js"
import * as Cursor from "./Cursor.js"
import { CustomerIdentity } from "./Customer.js"
import * as Idempotency from "./Idempotency.js"
import { ConversationId, Ids, nextConversationId, nextMessageId, WhatsAppNumberId } from "./Ids.js"
import { type InboundMessage, opensWindow, plausibleTimestamp } from "./Inbound.js"
import {
  GetConversationInput,
  ListConversationsInput,
  type SendOptions,
  SendTemplateInput,
  SendTextInput,
  UpdateConversationInput
} from "./InboxInputs.js"
import {
  AssignedToMeRequiresUser,
  AssigneeNotFound,
  type ConversationDetail,
  type ConversationPage,
  type ConversationView,
  type SendReceipt
} from "./InboxResults.js"
import { makeSending } from "./InboxSending.js"
import { Inbox, type InboxOptions } from "./InboxService.js"
import { decoder, InvalidRequest } from "./InvalidRequest.js"
import * as Media from "./Media.js"
import { MediaReference, Message, TemplateUse } from "./Message.js"
import { type InboundRecord, MessageRepository, type StatusUpdate } from "./MessageRepository.js"
import { MessagingGateway } from "./MessagingGateway.js"
import * as ServiceWindow from "./ServiceWindow.js"
import { bind, ensureApproved, TemplateNotFound } from "./Template.js"
import { TemplateCatalog } from "./TemplateCatalog.js"
import { UserDirectory } from "./UserDirectory.js"
import { type WhatsAppNumber, WhatsAppNumberNotFound } from "./WhatsAppNumber.js"
import { WhatsAppNumberDirectory } from "./WhatsAppNumberDirectory.js"

export * from "./InboxInputs.js"
export * from "./InboxResults.js"
export { Inbox, type InboxOptions } from "./InboxService.js"

const decodeList = decoder(ListConversationsInput)
const decodeGet = decoder(GetConversationInput)
const decodeSendText = decoder(SendTextInput)
const decodeSendTemplate = decoder(SendTemplateInput)
const decodeSendMedia = decoder(Media.SendMediaInput)
const decodeUpdate = decoder(UpdateConversationInput)
const decodeConversationId = Schema.decodeUnknownOption(ConversationId)
const decodeWhatsAppNumberId = Schema.decodeUnknownOption(WhatsAppNumberId)

// ---------------------------------------------------------------------------------------------------------------

/** How many unconfirmed sends one statement of the sweeper fails at most. */
const expiryBatch = 500

const customerOf = (conversation: Conversation): CustomerIdentity =>
  new CustomerIdentity(
    {
      phone: Option.fromNullable(conversation.customerPhone),
      userId: Option.fromNullable(conversation.customerUserId)
    },
    true
  )

const makeInbox = (options: InboxOptions = {}) =>
  Effect.gen(function* () {
    const conversations = yield* ConversationRepository
    const messages = yield* MessageRepository
    const catalog = yield* TemplateCatalog
    const numbers = yield* WhatsAppNumberDirectory
    const users = yield* UserDirectory
    const keys = yield* Idempotency.IdempotencyStore
    const gateway = yield* MessagingGateway
    const ids = yield* Ids
    const policy = options.idempotency ?? Idempotency.defaultPolicy
    const defaultMode = options.defaultMode ?? "human"
    const sendReadReceipts = options.sendReadReceipts ?? true
    const unconfirmedSendTimeout = Duration.decode(
      options.unconfirmedSendTimeout ?? Idempotency.defaultUnconfirmedTimeout
    )
    const provideIds = Effect.provideService(Ids, ids)

    const viewOf = (conversation: Conversation, now: DateTime.Utc): ConversationView => ({
      conversation,
      windowClosesAt: ServiceWindow.openUntil(Option.fromNullable(conversation.lastInboundAt), now)
    })

    /** A conversation id from the request, or `ConversationNotFound` (a malformed id names no conversation). */
    const conversationIdOf = (rawId: string) =>
      Effect.orElseFail(decodeConversationId(rawId), () => new ConversationNotFound({ conversationId: rawId }))

    const findConversation = (actor: Actor, rawId: string) =>
      Effect.gen(function* () {
        const id = yield* conversationIdOf(rawId)
        return yield* Effect.orElseFail(
          yield* conversations.findById(actor.businessId, id),
          () => new ConversationNotFound({ conversationId: rawId })
        )
      })

    const findNumber = (actor: Actor, rawId: string) =>
      Effect.gen(function* () {
        const notFound = () => new WhatsAppNumberNotFound({ whatsappNumberId: rawId })
        const id = yield* Effect.orElseFail(decodeWhatsAppNumberId(rawId), notFound)
        return yield* Effect.orElseFail(yield* numbers.findById(actor.businessId, id), notFound)
      })

    /** A new conversation with this customer on this number (not stored yet). */
    const newConversation = (
      number: WhatsAppNumber,
      customer: CustomerIdentity,
      start: { readonly name: string | null; readonly status: ConversationStatus; readonly at: DateTime.Utc }
    ) =>
      Effect.map(
        provideIds(nextConversationId),
        (id) =>
          new Conversation(
            {
              id,
              businessId: number.businessId,
              whatsappNumberId: number.id,
              customerPhone: Option.getOrNull(customer.phone),
              customerUserId: Option.getOrNull(customer.userId),
              customerName: start.name,
              status: start.status,
              mode: defaultMode,
              unreadCount: 0,
              assignedUserId: null,
              lastInboundAt: null,
              lastOutboundAt: null,
              lastActivityAt: start.at,
              createdAt: start.at
            },
            true
          )
      )

    /** A new outbound message, `pending` until the provider accepts it. */
    const outboundMessage = (
      conversation: Conversation,
      at: DateTime.Utc,
      content: Pick<Message, "messageType" | "text" | "template"> & { readonly media?: MediaReference }
    ) =>
      Effect.map(
        provideIds(nextMessageId),
        (id) =>
          new Message(
            {
              id,
              businessId: conversation.businessId,
              conversationId: conversation.id,
              direction: "outbound",
              ...content,
              media: content.media ?? null,
              content: null,
              replyToProviderMessageId: null,
              deliveryStatus: "pending",
              providerMessageId: null,
              failure: null,
              createdAt: at
            },
            true
          )
      )

    const { deliver, idempotent } = makeSending({ messages, keys, policy })

    const listConversations = Effect.fn("Inbox.listConversations")(function* (
      actor: Actor,
      raw: ListConversationsInput
    ) {
      yield* requireScope(actor, "messaging:conversations:read")
      const input = yield* decodeList(raw)
      const limit = input.limit ?? 50
      let assigned: ConversationQuery["assigned"]
      if (input.assigned === "me") {
        const userId = yield* Effect.orElseFail(actor.userId, () => new AssignedToMeRequiresUser())
        assigned = { _tag: "User", userId }
      } else if (input.assigned === "unassigned") {
        assigned = { _tag: "Unassigned" }
      }
      const after = input.cursor === undefined ? undefined : yield* Cursor.decode(input.cursor)
      const query: ConversationQuery = {
        limit: limit + 1,
        ...(input.status === undefined ? {} : { status: input.status }),
        ...(input.mode === undefined ? {} : { mode: input.mode }),
        ...(assigned === undefined ? {} : { assigned }),
        ...(input.search === undefined ? {} : { search: input.search }),
        ...(after === undefined ? {} : { after })
      }
      const rows = yield* conversations.list(actor.businessId, query)
      const page = rows.slice(0, limit)
      const last = page[page.length - 1]
      const now = yield* DateTime.now
      return {
        conversations: page.map((c) => viewOf(c, now)),
        nextCursor:
          rows.length > limit && last !== undefined
            ? Option.some(Cursor.encode({ at: last.lastActivityAt, id: last.id }))
            : Option.none()
      } satisfies ConversationPage
    })

    const getConversation = Effect.fn("Inbox.getConversation")(function* (
      actor: Actor,
      conversationId: string,
      raw: GetConversationInput = {}
    ) {
      yield* requireScope(actor, "messaging:messages:read")
      const input = yield* decodeGet(raw)
      const limit = input.messagesLimit ?? 20
      const before = input.before === undefined ? Either.right(undefined) : Cursor.decode(input.before)
      // An unknown conversation is reported before a bad cursor, as when the two were read one after the other.
      if (Either.isLeft(before)) {
        yield* findConversation(actor, conversationId)
        return yield* before.left
      }
      const id = yield* conversationIdOf(conversationId)
      const found = yield* messages.findWithHistory(actor.businessId, id, {
        limit: limit + 1,
        ...(before.right === undefined ? {} : { before: before.right })
      })
      if (Option.isNone(found)) return yield* new ConversationNotFound({ conversationId })
      const { conversation, messages: rows } = found.value
      const page = rows.slice(0, limit)
      const last = page[page.length - 1]
      const now = yield* DateTime.now
      return {
        ...viewOf(conversation, now),
        messages: page,
        olderCursor:
          rows.length > limit && last !== undefined
            ? Option.some(Cursor.encode({ at: last.createdAt, id: last.id }))
            : Option.none()
      } satisfies ConversationDetail
    })

    const sendText = Effect.fn("Inbox.sendText")(function* (
      actor: Actor,
      conversationId: string,
      raw: SendTextInput,
      options: SendOptions = {}
    ) {
      yield* requireScope(actor, "messaging:messages:send")
      const input = yield* decodeSendText(raw)
      const fingerprint = Idempotency.fingerprint("sendText", { conversationId, text: input.text })
      return yield* idempotent(actor, options.idempotencyKey, fingerprint, (key) =>
        Effect.gen(function* () {
          const conversation = yield* findConversation(actor, conversationId)
          const now = yield* DateTime.now
          const lastInboundAt = Option.fromNullable(conversation.lastInboundAt)
          if (!ServiceWindow.isOpen(lastInboundAt, now)) {
            return yield* Effect.fail(
              new ServiceWindow.ServiceWindowClosed({
                conversationId: conversation.id,
                closedAt: Option.map(lastInboundAt, ServiceWindow.closesAt)
              })
            )
          }
          const number = yield* findNumber(actor, conversation.whatsappNumberId)
          const message = yield* outboundMessage(conversation, now, {
            messageType: "text",
            text: input.text,
            template: null
          })
          return yield* deliver(
            message,
            key,
            gateway.sendText({ from: number, to: customerOf(conversation), text: input.text, messageId: message.id })
          )
        })
      )
    })

    /** The conversation, when its 24-hour window is open now; `ServiceWindowClosed` otherwise. */
    const openConversation = (actor: Actor, conversationId: string) =>
      Effect.gen(function* () {
        const conversation = yield* findConversation(actor, conversationId)
        const now = yield* DateTime.now
        const lastInboundAt = Option.fromNullable(conversation.lastInboundAt)
        if (!ServiceWindow.isOpen(lastInboundAt, now)) {
          return yield* Effect.fail(
            new ServiceWindow.ServiceWindowClosed({
              conversationId: conversation.id,
              closedAt: Option.map(lastInboundAt, ServiceWindow.closesAt)
            })
          )
        }
        return { conversation, now }
      })

    const sendMedia = Effect.fn("Inbox.sendMedia")(function* (
      actor: Actor,
      conversationId: string,
      raw: Media.SendMediaInput,
      options: SendOptions = {}
    ) {
      yield* requireScope(actor, "messaging:messages:send")
      const input = yield* decodeSendMedia(raw)
      const problems = Media.sendProblems(input)
      if (problems.length > 0) return yield* Effect.fail(new InvalidRequest({ issues: problems }))
      const source = Media.sourceOf(input)
      const fingerprint = Idempotency.fingerprint("sendMedia", { conversationId, ...source })
      return yield* idempotent(actor, options.idempotencyKey, fingerprint, (key) =>
        Effect.gen(function* () {
          const { conversation, now } = yield* openConversation(actor, conversationId)
          const number = yield* findNumber(actor, conversation.whatsappNumberId)
          const message = yield* outboundMessage(conversation, now, {
            messageType: input.kind,
            text: input.caption ?? null,
            template: null,
            media: new MediaReference(
              {
                providerMediaId: input.mediaId ?? null,
                url: input.link ?? null,
                mimeType: null,
                sha256: null,
                filename: input.filename ?? null,
                kind: input.kind,
                caption: input.caption ?? null
              },
              true
            )
          })
          return yield* deliver(
            message,
            key,
            gateway.sendMedia({ from: number, to: customerOf(conversation), media: source, messageId: message.id })
          )
        })
      )
    })

    const sendTemplate = Effect.fn("Inbox.sendTemplate")(function* (
      actor: Actor,
      raw: SendTemplateInput,
      options: SendOptions = {}
    ) {
      yield* requireScope(actor, "messaging:messages:send")
      const input = yield* decodeSendTemplate(raw)
      const variables = input.variables ?? {}
      const fingerprint = Idempotency.fingerprint("sendTemplate", { ...input, variables })
      return yield* idempotent(actor, options.idempotencyKey, fingerprint, (key) =>
        Effect.gen(function* () {
          const number = yield* findNumber(actor, input.whatsappNumberId)
          const template = yield* Effect.orElseFail(
            yield* catalog.findByKey(actor.businessId, input.templateKey),
            () => new TemplateNotFound({ templateKey: input.templateKey })
          )
          yield* ensureApproved(template)
          const bound = yield* bind(template, variables)
          const now = yield* DateTime.now
          const customer = CustomerIdentity.byPhone(input.phone)
          const existing = yield* conversations.findByCustomer(actor.businessId, number.id, customer)
          // A new customer's conversation is started (atomically, once) before the message that needs it.
          const conversation = Option.isSome(existing)
            ? existing.value
            : yield* conversations.findOrCreate(
                yield* newConversation(number, customer, {
                  name: input.customerName ?? null,
                  status: "pending_customer",
                  at: now
                })
              )
          const message = yield* outboundMessage(conversation, now, {
            messageType: "template",
            text: bound.renderedText,
            template: new TemplateUse(
              { key: template.key, name: template.name, language: template.language, variables },
              true
            )
          })
          return yield* deliver(
            message,
            key,
            gateway.sendTemplate({ from: number, to: customerOf(conversation), template: bound, messageId: message.id })
          )
        })
      )
    })

    /** The message to record for a customer's inbound message, in the given (found or new) conversation. */
    const inboundRecord = (number: WhatsAppNumber, inbound: InboundMessage, conversation: Conversation) =>
      Effect.map(
        provideIds(nextMessageId),
        (id): InboundRecord => ({
          conversation,
          message: new Message(
            {
              id,
              businessId: number.businessId,
              conversationId: conversation.id,
              direction: "inbound",
              messageType: inbound.messageType,
              text: inbound.text,
              template: null,
              media: inbound.media,
              content: inbound.content,
              replyToProviderMessageId: inbound.replyToProviderMessageId,
              deliveryStatus: "delivered",
              providerMessageId: inbound.providerMessageId,
              failure: null,
              createdAt: inbound.timestamp
            },
            true
          ),
          customerName: inbound.customerName,
          opensWindow: opensWindow(inbound)
        })
      )

    const receiveInbound = Effect.fn("Inbox.receiveInbound")(function* (
      number: WhatsAppNumber,
      batch: ReadonlyArray<InboundMessage>
    ) {
      // Signed is not the same as plausible: a timestamp far in the future is clamped to now (see Inbound).
      const now = yield* DateTime.now
      // One new-conversation candidate per customer, used only by a customer who has none yet: storage decides, in
      // the same atomic step as the messages, so a batch of thousands needs no lookup per message.
      const candidates = new Map<string, Conversation>()
      const records: Array<InboundRecord> = []
      for (const received of batch) {
        const inbound = { ...received, timestamp: plausibleTimestamp(received.timestamp, now) }
        const customer = `${Option.getOrElse(inbound.customer.phone, () => "")} ${Option.getOrElse(inbound.customer.userId, () => "")}`
        const conversation =
          candidates.get(customer) ??
          (yield* newConversation(number, inbound.customer, {
            name: Option.getOrNull(inbound.customerName),
            status: "open",
            at: inbound.timestamp
          }))
        candidates.set(customer, conversation)
        records.push(yield* inboundRecord(number, inbound, conversation))
      }
      return yield* messages.recordInboundBatch(records)
    })

    const applyDeliveryStatus = Effect.fn("Inbox.applyDeliveryStatus")(function* (
      number: WhatsAppNumber,
      updates: ReadonlyArray<StatusUpdate>
    ) {
      const now = yield* DateTime.now
      return yield* messages.applyStatuses(
        number.businessId,
        updates.map((update) => ({ ...update, timestamp: plausibleTimestamp(update.timestamp, now) }))
      )
    })

    const expireUnconfirmedSends = Effect.fn("Inbox.expireUnconfirmedSends")(function* () {
      const cutoff = DateTime.subtractDuration(yield* DateTime.now, unconfirmedSendTimeout)
      let expired = 0
      // In batches, so a backlog never becomes one huge statement; each batch only takes what is still pending.
      for (;;) {
        const batch = yield* messages.expireUnconfirmed({
          cutoff,
          failure: Idempotency.unconfirmedExpiry,
          limit: expiryBatch
        })
        expired += batch.length
        if (batch.length < expiryBatch) return expired
      }
    })

    const updateConversation = Effect.fn("Inbox.updateConversation")(function* (
      actor: Actor,
      conversationId: string,
      raw: UpdateConversationInput
    ) {
      yield* requireScope(actor, "messaging:conversations:write")
      const input = yield* decodeUpdate(raw)
      const notFound = () => new ConversationNotFound({ conversationId })
      const id = yield* Effect.orElseFail(decodeConversationId(conversationId), notFound)
      const assignee = input.assignedUserId
      if (assignee !== undefined && assignee !== null) {
        const known = yield* users.exists(actor.businessId, assignee)
        if (!known) return yield* Effect.fail(new AssigneeNotFound({ userId: assignee }))
      }
      const updated = yield* conversations.update(actor.businessId, id, new ConversationPatch(input, true))
      const conversation = yield* Effect.orElseFail(updated, notFound)
      return viewOf(conversation, yield* DateTime.now)
    })

    const markRead = Effect.fn("Inbox.markRead")(function* (actor: Actor, conversationId: string) {
      yield* requireScope(actor, "messaging:conversations:write")
      const notFound = () => new ConversationNotFound({ conversationId })
      const id = yield* Effect.orElseFail(decodeConversationId(conversationId), notFound)
      const conversation = yield* Effect.orElseFail(yield* conversations.markRead(actor.businessId, id), notFound)
      if (sendReadReceipts) yield* sendReadReceipt(conversation)
      return viewOf(conversation, yield* DateTime.now)
    })

    /** Best effort: a failed read receipt never fails `markRead`, whose state change is already stored. */
    const sendReadReceipt = (conversation: Conversation) =>
      Effect.gen(function* () {
        const recent = yield* messages.listByConversation(conversation.businessId, conversation.id, { limit: 50 })
        const newestInbound = recent.find((m) => m.direction === "inbound" && m.providerMessageId !== null)
        if (newestInbound?.providerMessageId == null) return
        const number = yield* numbers.findById(conversation.businessId, conversation.whatsappNumberId)
        if (Option.isNone(number)) return
        yield* gateway
          .markRead({ from: number.value, providerMessageId: newestInbound.providerMessageId })
          .pipe(Effect.timeout(Duration.seconds(10)))
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("read receipt not sent", cause)),
        Effect.withSpan("Inbox.sendReadReceipt")
      )

    return Inbox.of({
      listConversations,
      getConversation,
      sendText,
      sendMedia,
      sendTemplate,
      receiveInbound,
      applyDeliveryStatus,
      expireUnconfirmedSends,
      updateConversation,
      markRead
    })
  })

/** Builds the use cases from the ports in the environment. */
export const make: (
  options?: InboxOptions
) => Effect.Effect<
  Context.Tag.Service<Inbox>,
  never,
  | ConversationRepository
  | MessageRepository
  | TemplateCatalog
  | WhatsAppNumberDirectory
  | UserDirectory
  | Idempotency.IdempotencyStore
  | MessagingGateway
  | Ids
> = makeInbox

/** `Inbox` from the ports in the environment; the host provides the adapters. */
export const layer = (options?: InboxOptions) => Layer.effect(Inbox, makeInbox(options))

/** Turns a receipt into the message, failing with the provider's refusal: for callers who prefer errors. */
export const sentMessage = (receipt: SendReceipt): Effect.Effect<Message, Idempotency.ProviderRefusal> =>
  receipt.outcome._tag === "Sent" ? Effect.succeed(receipt.outcome.message) : Effect.fail(receipt.outcome.error)
