/** Media: a message's file, and uploads for sends. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Media } from "@parley/core"
import { Schema } from "effect"
import { ErrorBody } from "../ApiError.js"
import { Envelope } from "../Representation.js"
import { ApiKeyAuth, RequiredScope } from "../Security.js"
import { answers } from "./common.js"

export const MessagePath = Schema.Struct({ id: Schema.String })

export const UploadedMediaJson = Schema.Struct({
  mediaId: Schema.String.annotations({ description: "Pass as `mediaId` in a media send (WhatsApp keeps it 30 days)" }),
  type: Media.MediaKind,
  mimeType: Schema.String,
  sizeBytes: Schema.Int
}).annotations({ identifier: "UploadedMedia" })

/** The upload form as OpenAPI shows it; the handler reads the parts as a stream, never the whole body at once. */
export const UploadMediaForm = HttpApiSchema.MultipartStream(
  Schema.Struct({
    whatsappNumberId: Schema.UUID.annotations({ description: "The WhatsApp number the file is uploaded for" }),
    file: Schema.String.annotations({
      description: "The file, with its Content-Type (see the per-type limits above)",
      jsonSchema: {
        type: "string",
        format: "binary",
        description: "The file, with its Content-Type (see the per-type limits above)"
      }
    })
  }).annotations({
    identifier: "UploadMediaRequest",
    examples: [{ whatsappNumberId: "0190a4b2-7c1d-7e3f-8a5b-6c7d8e9f0a1b", file: "(the file's bytes)" }]
  })
)

export const media = HttpApiGroup.make("media")
  .add(
    HttpApiEndpoint.get("getMessageMedia", "/messages/:id/media")
      .setPath(MessagePath)
      .addSuccess(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" }))
      .pipe(answers(404, 410, 502))
      .annotate(RequiredScope, "messaging:messages:read")
      .annotate(OpenApi.Summary, "Download a message's file")
      .annotate(
        OpenApi.Description,
        "The image, audio, video, document or sticker of a message, streamed from WhatsApp with its " +
          "`Content-Type`, `Content-Length` and `Content-Disposition`. The bytes are checked against the SHA-256 " +
          "WhatsApp gave; on a mismatch the connection is cut before the body completes. 410 `media_gone` once " +
          "WhatsApp no longer keeps the file; 404 `message_has_no_media` for a message without one. " +
          "Scope `messaging:messages:read`."
      )
  )
  .add(
    HttpApiEndpoint.post("uploadMedia", "/media")
      .setPayload(UploadMediaForm)
      .addSuccess(Envelope(UploadedMediaJson), { status: 201 })
      .pipe(answers(400, 404, 411, 413, 415, 502))
      .annotate(RequiredScope, "messaging:messages:send")
      .annotate(OpenApi.Summary, "Upload a file for media sends")
      .annotate(
        OpenApi.Description,
        "A `multipart/form-data` body with `whatsappNumberId` (first) and `file`. The type decides the kind and " +
          "limits, checked before anything reaches WhatsApp: image jpeg/png ≤ 5 MB, video mp4/3gpp ≤ 16 MB, audio " +
          "aac/amr/mpeg/mp4/ogg(opus) ≤ 16 MB, document (pdf, txt, Office) ≤ 100 MB, sticker webp ≤ 100 KB " +
          "(animated ≤ 500 KB); MB = 1,000,000 bytes. 415 `media_type_unsupported`, 413 `media_too_large`. " +
          "Scope `messaging:messages:send`."
      )
  )
  .addError(ErrorBody, { status: 401 })
  .addError(ErrorBody, { status: 403 })
  .addError(ErrorBody, { status: 429 })
  .addError(ErrorBody, { status: 503 })
  .middleware(ApiKeyAuth)
  .prefix("/v1/messaging")
  .annotate(OpenApi.Title, "Media")
  .annotate(OpenApi.Description, "Files of messages and uploads for media sends. API key auth.")
