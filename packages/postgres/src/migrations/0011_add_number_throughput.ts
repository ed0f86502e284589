/**
 * A number's throughput (messages per second the provider allows it) is a property of the number: Meta gives every
 * number its standard tier, 80 messages per second, and upgrades some to 1,000. Existing numbers get the standard
 * tier, which is what the service enforced for every number before.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE whatsapp_numbers
      ADD COLUMN messages_per_second integer NOT NULL DEFAULT 80
        CONSTRAINT whatsapp_numbers_messages_per_second_check CHECK (messages_per_second BETWEEN 1 AND 1000)`
})
