/**
 * Text Parley can store: PostgreSQL's `text` and `jsonb` refuse the NUL character (U+0000), and a lone UTF-16
 * surrogate is not a character at all (encoding it to UTF-8 silently turns it into U+FFFD). Every text an input
 * schema accepts passes through `Storable`, so a bad character is a 400 naming the field, never a storage failure.
 */
import { Schema } from "effect"

// A high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why `text` cannot be stored, or `undefined` when it can. */
export const problemOf = (text: string): string | undefined =>
  text.includes("\u0000")
    ? "must not contain the NUL character (U+0000)"
    : loneSurrogate.test(text)
      ? "must be well-formed Unicode (no lone surrogate)"
      : undefined

/** A string without NUL characters or lone surrogates. */
export const Storable = Schema.String.pipe(
  Schema.filter((text) => problemOf(text) ?? true, {
    identifier: "StorableText",
    description: "Text without the NUL character (U+0000) or lone UTF-16 surrogates"
  })
)

/** `Storable` that is not only whitespace. */
export const NonBlank = Storable.pipe(Schema.filter((s) => s.trim().length > 0, { message: () => "must not be blank" }))
