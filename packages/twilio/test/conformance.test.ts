/**
 * The core's gateway conformance suite, run against the Twilio gateway talking to the fake Twilio API over loopback.
 */
import { runGatewayConformance } from "@parley/core/testing"
import { conformanceLayer } from "./support/harness.js"

runGatewayConformance("Twilio gateway against the fake Twilio API", conformanceLayer, {
  retriesTransientFailures: true
})
