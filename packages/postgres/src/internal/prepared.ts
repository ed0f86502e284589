/**
 * Named prepared statements for the hot statements whose text never varies (the send's claim, its conversation,
 * the recorded message, the rate-limit slots).
 *
 * `@effect/sql-pg` runs every statement unnamed, so PostgreSQL parses, analyses and plans it on each execution. For
 * a statement of several data-modifying CTEs that costs more than running it (about 0.4 ms of planning against
 * 0.06 ms of execution, measured with EXPLAIN on a warm connection), and it is the database's CPU, which on one
 * machine the service shares. A statement that begins with {@link marker} is instead run by node-postgres under a
 * name derived from its text: parsed once per connection, its plan cached by the server (after five custom plans,
 * a generic one when it costs no more).
 *
 * Only fixed texts may carry the marker (no `IN` list of variable length, no optional fragment that multiplies the
 * variants): a connection keeps each prepared statement until it closes. As a guard, past {@link maxNames} distinct
 * marked texts in a process, further ones run unnamed.
 *
 * Off with `prepare: false` (`DATABASE_PREPARED_STATEMENTS=false`), for a connection pooler that does not carry
 * prepared statements across transactions (PgBouncer before 1.21 in transaction mode).
 */
import { createHash } from "node:crypto"
import type * as SqlClient from "@effect/sql/SqlClient"
import Pg from "pg"

/** The comment a statement starts with to be prepared (PostgreSQL ignores it; PGlite and scripts too). */
export const marker = "/* parley:prepared */"

/** The fragment to begin a fixed, hot statement with. */
export const prepared = (sql: SqlClient.SqlClient) => sql.literal(marker)

export const maxNames = 256

const markerAt = (text: string) => {
  let i = 0
  while (i < text.length && text.charCodeAt(i) <= 32) i++
  return text.startsWith(marker, i) ? i : -1
}
const isMarked = (text: string) => markerAt(text) >= 0

/** The text without its marker: for a statement run another way (inlined into a script). */
export const unmarked = (text: string): string => {
  const at = markerAt(text)
  return at < 0 ? text : text.slice(at + marker.length)
}

/**
 * Names statements by a digest of their text, so one text has one name in every process and connection; past `max`
 * distinct texts, a new one gets none (`undefined`: it runs unnamed).
 */
export const namer = (max: number) => {
  const names = new Map<string, string>()
  return (text: string): string | undefined => {
    const known = names.get(text)
    if (known !== undefined) return known
    if (names.size >= max) return undefined
    const name = `parley_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`
    names.set(text, name)
    return name
  }
}

const nameOf = namer(maxNames)

/**
 * node-postgres's client, running marked statements by name. `query(text, values, callback)` is how
 * `@effect/sql-pg` calls it; every other call passes through unchanged.
 */
export class PreparingClient extends Pg.Client {}

const query = Pg.Client.prototype.query
Object.defineProperty(PreparingClient.prototype, "query", {
  value: function (this: Pg.Client, ...args: Array<unknown>) {
    const [text, values, callback] = args
    if (typeof text === "string" && Array.isArray(values) && args.length === 3 && isMarked(text)) {
      const name = nameOf(text)
      if (name !== undefined) return Reflect.apply(query, this, [{ name, text, values }, callback])
    }
    return Reflect.apply(query, this, args)
  },
  writable: true,
  configurable: true
})
