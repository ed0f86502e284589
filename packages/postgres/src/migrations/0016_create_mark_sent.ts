/**
 * `parley_mark_sent`: marks an accepted send `sent` (`MessageRepository.markSent`) in one call, so the statement can
 * be prepared once per connection. It was two statements sent as one script: the provider id's advisory lock, then a
 * statement of several CTEs whose snapshot had to be taken once the lock was held (a status parked by a transaction
 * that held the lock before must be visible). A script takes no parameters, so PostgreSQL parsed and planned the
 * whole text on every send, about 0.6 ms of its CPU per send, more than running it.
 *
 * In a VOLATILE plpgsql function each statement takes its own snapshot (READ COMMITTED), so the query after
 * `pg_advisory_xact_lock` sees what the lock's previous holder committed, as the script's second statement did;
 * plpgsql keeps the query's plan for the session. The lock is held to the end of the caller's transaction (its own
 * statement when autocommitted). The body is the script's statement as it was: it locks the message, drains its
 * parked statuses, sets the provider id and the status (`sent`, or the best parked status above it), completes the
 * Idempotency-Key with the marked row (`p_key`, or none when NULL) and records `message.status_updated` when the
 * status moved. Status ranks: pending 0, sent 1, delivered 2, read 3, failed 4 (the core's `deliveryStatusRank`).
 * The events' and the key's data are the rows' storage form (`{"$rows": {"message": …}}`). Changing any of this is
 * a new migration replacing the function.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

const rank = (column: string) =>
  `(CASE ${column} WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 ` +
  "WHEN 'failed' THEN 4 ELSE -1 END)"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    CREATE FUNCTION parley_mark_sent(
      p_business uuid, p_id uuid, p_provider text, p_lock_key text, p_event uuid, p_now timestamptz, p_key text
    )
    RETURNS TABLE (
      previous_status text, business_id uuid, id uuid, conversation_id uuid, direction text, message_type text,
      text text, template jsonb, media jsonb, content jsonb, reply_to_provider_message_id text,
      delivery_status text, provider_message_id text, failure_code integer, failure_title text,
      created_at timestamptz, recorded bigint
    )
    LANGUAGE plpgsql VOLATILE AS $body$
    #variable_conflict use_column
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended(p_lock_key, 0));
      RETURN QUERY
      WITH previous AS (
        SELECT m.id, m.delivery_status FROM messages m
        WHERE m.business_id = p_business AND m.id = p_id FOR UPDATE
      ), parked AS (
        UPDATE message_status_events e SET parked = false
        WHERE e.business_id = p_business AND e.provider_message_id = p_provider AND e.parked
          AND EXISTS (SELECT 1 FROM previous)
        RETURNING e.status, e.failure_code, e.failure_title
      ), best AS (
        SELECT p.status, p.failure_code, p.failure_title FROM parked p
        ORDER BY ${rank("p.status")} DESC LIMIT 1
      ), next AS (
        SELECT p.id, p.delivery_status AS previous_status, b.status AS parked_status, b.failure_code,
          b.failure_title,
          CASE WHEN ${rank("p.delivery_status")} < 1 THEN 'sent' ELSE p.delivery_status END AS after_sent
        FROM previous p LEFT JOIN best b ON true
      ), final AS (
        SELECT n.id, n.previous_status, n.failure_code, n.failure_title,
          n.parked_status IS NOT NULL AND ${rank("n.parked_status")} > ${rank("n.after_sent")} AS drained,
          CASE WHEN n.parked_status IS NOT NULL AND ${rank("n.parked_status")} > ${rank("n.after_sent")}
            THEN n.parked_status ELSE n.after_sent END AS status
        FROM next n
      ), updated AS (
        UPDATE messages m SET
          provider_message_id = p_provider,
          delivery_status = f.status,
          failure_code = CASE WHEN NOT f.drained THEN m.failure_code
            WHEN f.status = 'failed' AND f.failure_code IS NOT NULL THEN f.failure_code END,
          failure_title = CASE WHEN NOT f.drained THEN m.failure_title
            WHEN f.status = 'failed' AND f.failure_code IS NOT NULL THEN coalesce(f.failure_title, '') END
        FROM final f
        WHERE m.business_id = p_business AND m.id = f.id
        RETURNING f.previous_status, m.business_id, m.id, m.conversation_id, m.direction, m.message_type, m.text,
          m.template, m.media, m.content, m.reply_to_provider_message_id, m.delivery_status, m.provider_message_id,
          m.failure_code, m.failure_title, m.created_at
      ), completed AS (
        UPDATE idempotency_keys k SET
          outcome = jsonb_build_object('$rows', jsonb_build_object('message', to_jsonb(u) - 'previous_status')),
          message_id = u.id,
          completed_at = now()
        FROM updated u
        WHERE k.business_id = p_business AND k.key = p_key
        RETURNING k.key
      ), bumped AS (
        UPDATE conversations c SET event_sequence = c.event_sequence + 1
        FROM updated u
        WHERE c.business_id = u.business_id AND c.id = u.conversation_id
          AND u.delivery_status IS DISTINCT FROM u.previous_status
        RETURNING c.id, c.event_sequence
      ), recorded AS (
        INSERT INTO events (id, business_id, type, conversation_id, sequence, occurred_at, data)
        SELECT p_event, u.business_id, 'message.status_updated', u.conversation_id, b.event_sequence, p_now,
          jsonb_build_object('$rows', jsonb_build_object('message', to_jsonb(u) - 'previous_status'))
        FROM updated u JOIN bumped b ON b.id = u.conversation_id
        RETURNING events.business_id
      )
      SELECT u.previous_status, u.business_id, u.id, u.conversation_id, u.direction, u.message_type, u.text,
        u.template, u.media, u.content, u.reply_to_provider_message_id, u.delivery_status, u.provider_message_id,
        u.failure_code, u.failure_title, u.created_at, (SELECT count(*) FROM recorded)
      FROM updated u;
    END
    $body$`)
})
