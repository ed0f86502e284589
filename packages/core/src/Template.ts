/**
 * Message templates: the catalog entry (in Meta's definition format) and `bind`, which checks a send's variables
 * against the template's placeholders and turns them into provider parameters, before anything is sent.
 *
 * Variable names, as a caller passes them in `variables`:
 * - body placeholders by their own name: `order_id` for `{{order_id}}`, `1` for `{{1}}`;
 * - a text header placeholder as `header.<name>` (`header.1`, `header.order_id`);
 * - a media header (IMAGE, VIDEO, DOCUMENT) as `header.image` / `header.video` / `header.document`, whose value is
 *   an https link or a provider media id;
 * - a URL button's trailing `{{1}}`, or a copy-code button's code, as `button.<index>` (0-based position).
 */
import { Array as Arr, Either, Schema } from "effect"
import { BusinessId, TemplateId } from "./Ids.js"
import { Storable } from "./Text.js"

export const TemplateCategory = Schema.Literal("MARKETING", "UTILITY", "AUTHENTICATION")
export type TemplateCategory = typeof TemplateCategory.Type

/** Only APPROVED templates can be sent; the rest are Meta's other review and lifecycle states. */
export const TemplateStatus = Schema.Literal(
  "APPROVED",
  "PENDING",
  "REJECTED",
  "PAUSED",
  "DISABLED",
  "IN_APPEAL",
  "PENDING_DELETION",
  "DELETED",
  "ARCHIVED",
  "LIMIT_EXCEEDED"
)
export type TemplateStatus = typeof TemplateStatus.Type

export const ParameterFormat = Schema.Literal("NAMED", "POSITIONAL")
export type ParameterFormat = typeof ParameterFormat.Type

export const HeaderFormat = Schema.Literal("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
export type HeaderFormat = typeof HeaderFormat.Type

export const HeaderComponent = Schema.Struct({
  type: Schema.Literal("HEADER"),
  format: HeaderFormat,
  text: Schema.optional(Storable)
})
export const BodyComponent = Schema.Struct({ type: Schema.Literal("BODY"), text: Storable })
export const FooterComponent = Schema.Struct({ type: Schema.Literal("FOOTER"), text: Storable })
export const TemplateButton = Schema.Struct({
  /** QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, FLOW, OTP, … (kept as Meta names it). */
  type: Storable,
  text: Schema.optional(Storable),
  url: Schema.optional(Storable),
  phone_number: Schema.optional(Storable)
})
export const ButtonsComponent = Schema.Struct({
  type: Schema.Literal("BUTTONS"),
  buttons: Schema.Array(TemplateButton)
})
/** A component in Meta's definition format (upper-case `type`). */
export const TemplateComponent = Schema.Union(HeaderComponent, BodyComponent, FooterComponent, ButtonsComponent)
export type TemplateComponent = typeof TemplateComponent.Type

export class Template extends Schema.Class<Template>("Template")({
  id: TemplateId,
  businessId: BusinessId,
  /** The business's own name for the template, used by senders (e.g. `order_shipped`). */
  key: Schema.String,
  /** The provider's template name; name + language identify it at the provider. */
  name: Schema.String,
  language: Schema.String,
  category: TemplateCategory,
  status: TemplateStatus,
  parameterFormat: ParameterFormat,
  components: Schema.Array(TemplateComponent)
}) {}

// ---------------------------------------------------------------------------------------------------------------
// Placeholders

const placeholderPattern = /\{\{\s*([^{}]*?)\s*\}\}/g
const namedName = /^[a-z_][a-z0-9_]*$/
const positionalName = /^[1-9]\d*$/

/** The distinct placeholder names in a text, in order of first appearance. */
export const placeholdersOf = (text: string): ReadonlyArray<string> => {
  const names: Array<string> = []
  for (const match of text.matchAll(placeholderPattern)) {
    const name = match[1] ?? ""
    if (!names.includes(name)) names.push(name)
  }
  return names
}

export const VariableProblemKind = Schema.Literal(
  "missing",
  "unknown",
  "empty",
  "too_long",
  "newline_or_tab",
  "too_many_spaces",
  "invalid_media_reference",
  "unsupported"
)
export type VariableProblemKind = typeof VariableProblemKind.Type

export class VariableProblem extends Schema.Class<VariableProblem>("VariableProblem")({
  variable: Schema.String,
  problem: VariableProblemKind,
  message: Schema.String
}) {}

/** What a variable fills, and the rules its value must meet. */
interface Slot {
  readonly variable: string
  readonly kind: "text" | "media" | "unsupported"
  readonly maxLength: number
}

const mediaFormats = new Set<HeaderFormat>(["IMAGE", "VIDEO", "DOCUMENT"])

const slotsOf = (template: Template): ReadonlyArray<Slot> => {
  const slots: Array<Slot> = []
  for (const component of template.components) {
    switch (component.type) {
      case "HEADER": {
        if (component.format === "TEXT") {
          const text = component.text ?? ""
          const staticLength = text.replace(placeholderPattern, "").length
          for (const name of placeholdersOf(text)) {
            slots.push({ variable: `header.${name}`, kind: "text", maxLength: Math.max(1, 60 - staticLength) })
          }
        } else if (mediaFormats.has(component.format)) {
          slots.push({ variable: `header.${component.format.toLowerCase()}`, kind: "media", maxLength: 2000 })
        } else {
          slots.push({ variable: `header.${component.format.toLowerCase()}`, kind: "unsupported", maxLength: 0 })
        }
        break
      }
      case "BODY": {
        for (const name of placeholdersOf(component.text)) {
          slots.push({ variable: name, kind: "text", maxLength: 1024 })
        }
        break
      }
      case "BUTTONS": {
        component.buttons.forEach((button, index) => {
          const kind = button.type.toUpperCase()
          if (kind === "URL" && button.url !== undefined && placeholdersOf(button.url).length > 0) {
            const staticLength = button.url.replace(placeholderPattern, "").length
            slots.push({ variable: `button.${index}`, kind: "text", maxLength: Math.max(1, 2000 - staticLength) })
          } else if (kind === "COPY_CODE") {
            slots.push({ variable: `button.${index}`, kind: "text", maxLength: 15 })
          }
        })
        break
      }
      case "FOOTER":
        break
    }
  }
  return slots
}

/** Every variable name the template needs, in component order. */
export const variablesOf = (template: Template): ReadonlyArray<string> => slotsOf(template).map((s) => s.variable)

const problem = (variable: string, kind: VariableProblemKind, message: string) =>
  new VariableProblem({ variable, problem: kind, message }, true)

/** Meta's send-time rules for a text value (error 132018 and 132000 at the provider). */
const textProblems = (slot: Slot, value: string): ReadonlyArray<VariableProblem> => {
  const problems: Array<VariableProblem> = []
  if (value.trim().length === 0) {
    problems.push(problem(slot.variable, "empty", "must not be empty"))
    return problems
  }
  if (value.length > slot.maxLength) {
    problems.push(problem(slot.variable, "too_long", `must be at most ${slot.maxLength} characters`))
  }
  if (/[\n\r\t]/.test(value)) {
    problems.push(problem(slot.variable, "newline_or_tab", "must not contain new-line or tab characters"))
  }
  if (/ {5,}/.test(value)) {
    problems.push(problem(slot.variable, "too_many_spaces", "must not contain more than 4 consecutive spaces"))
  }
  return problems
}

const mediaReference = /^(https:\/\/\S+|\d{1,32})$/

const valueProblems = (slot: Slot, value: string): ReadonlyArray<VariableProblem> => {
  switch (slot.kind) {
    case "text":
      return textProblems(slot, value)
    case "media":
      return mediaReference.test(value) && value.length <= slot.maxLength
        ? []
        : [problem(slot.variable, "invalid_media_reference", "must be an https link or a provider media id")]
    case "unsupported":
      return [problem(slot.variable, "unsupported", "this header format cannot be sent by Parley yet")]
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Binding

export type BoundParameter =
  | { readonly type: "text"; readonly text: string; readonly parameterName?: string }
  | { readonly type: "image" | "video" | "document"; readonly link?: string; readonly id?: string }
  | { readonly type: "coupon_code"; readonly couponCode: string }

export type BoundComponent =
  | { readonly type: "header" | "body"; readonly parameters: ReadonlyArray<BoundParameter> }
  | {
      readonly type: "button"
      readonly subType: "url" | "copy_code"
      readonly index: number
      readonly parameters: ReadonlyArray<BoundParameter>
    }

/** A template ready for the provider: parameters per component and the body as the customer will read it. */
export interface BoundTemplate {
  readonly name: string
  readonly language: string
  readonly components: ReadonlyArray<BoundComponent>
  readonly renderedText: string
}

export class TemplateNotFound extends Schema.TaggedError<TemplateNotFound>()("TemplateNotFound", {
  templateKey: Schema.String
}) {
  override get message() {
    return `no template with key ${JSON.stringify(this.templateKey)}`
  }
}

export class TemplateNotApproved extends Schema.TaggedError<TemplateNotApproved>()("TemplateNotApproved", {
  templateKey: Schema.String,
  status: TemplateStatus
}) {
  override get message() {
    return `template ${JSON.stringify(this.templateKey)} is ${this.status}, not APPROVED`
  }
}

/** Every problem with a send's variables at once, so a caller can fix them in one go. */
export class TemplateVariablesInvalid extends Schema.TaggedError<TemplateVariablesInvalid>()(
  "TemplateVariablesInvalid",
  {
    templateKey: Schema.String,
    problems: Schema.NonEmptyArray(VariableProblem)
  }
) {
  override get message() {
    return `template variables are invalid: ${this.problems.map((p) => `${p.variable} (${p.problem})`).join(", ")}`
  }
}

const render = (text: string, values: (name: string) => string) =>
  text.replace(placeholderPattern, (_, name: string) => values(name.trim()))

const mediaParameter = (format: string, value: string): BoundParameter => {
  const type = format.toLowerCase() as "image" | "video" | "document"
  return /^\d+$/.test(value) ? { type, id: value } : { type, link: value }
}

/**
 * Checks `variables` against the template's placeholders and returns the provider parameters, or one error that
 * names every missing, unknown and invalid variable.
 */
export const bind = (
  template: Template,
  variables: Readonly<Record<string, string>>
): Either.Either<BoundTemplate, TemplateVariablesInvalid> => {
  const slots = slotsOf(template)
  const known = new Set(slots.map((s) => s.variable))
  const problems: Array<VariableProblem> = []
  for (const slot of slots) {
    const value = variables[slot.variable]
    if (value === undefined) problems.push(problem(slot.variable, "missing", "is required by the template"))
    else problems.push(...valueProblems(slot, value))
  }
  for (const name of Object.keys(variables)) {
    if (!known.has(name)) problems.push(problem(name, "unknown", "is not a placeholder of this template"))
  }
  if (Arr.isNonEmptyArray(problems)) {
    return Either.left(new TemplateVariablesInvalid({ templateKey: template.key, problems }))
  }
  const named = template.parameterFormat === "NAMED"
  const valueFor = (variable: string) => variables[variable] ?? ""
  const textParameter = (name: string, variable: string): BoundParameter =>
    named && !positionalName.test(name) && namedName.test(name)
      ? { type: "text", text: valueFor(variable), parameterName: name }
      : { type: "text", text: valueFor(variable) }
  const components: Array<BoundComponent> = []
  let renderedText = ""
  for (const component of template.components) {
    switch (component.type) {
      case "HEADER": {
        if (component.format === "TEXT") {
          const names = placeholdersOf(component.text ?? "")
          if (names.length > 0) {
            components.push({ type: "header", parameters: names.map((n) => textParameter(n, `header.${n}`)) })
          }
        } else {
          const variable = `header.${component.format.toLowerCase()}`
          components.push({ type: "header", parameters: [mediaParameter(component.format, valueFor(variable))] })
        }
        break
      }
      case "BODY": {
        const names = placeholdersOf(component.text)
        if (names.length > 0) components.push({ type: "body", parameters: names.map((n) => textParameter(n, n)) })
        renderedText = render(component.text, valueFor)
        break
      }
      case "BUTTONS": {
        component.buttons.forEach((button, index) => {
          const variable = `button.${index}`
          if (!known.has(variable)) return
          const kind = button.type.toUpperCase()
          components.push(
            kind === "COPY_CODE"
              ? {
                  type: "button",
                  subType: "copy_code",
                  index,
                  parameters: [{ type: "coupon_code", couponCode: valueFor(variable) }]
                }
              : { type: "button", subType: "url", index, parameters: [{ type: "text", text: valueFor(variable) }] }
          )
        })
        break
      }
      case "FOOTER":
        break
    }
  }
  return Either.right({ name: template.name, language: template.language, components, renderedText })
}

/** `bind` after the catalog checks: unknown and unapproved templates are errors of their own. */
export const ensureApproved = (template: Template): Either.Either<Template, TemplateNotApproved> =>
  template.status === "APPROVED"
    ? Either.right(template)
    : Either.left(new TemplateNotApproved({ templateKey: template.key, status: template.status }))
