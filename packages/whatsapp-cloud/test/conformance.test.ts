/**
 * The core's gateway conformance suite, run against this adapter talking to the fake Cloud API over loopback.
 */
import { runGatewayConformance } from "@parley/core/testing"
import { conformanceLayer } from "./support/harness.js"

runGatewayConformance("Cloud API gateway against the fake Cloud API", conformanceLayer, {
  retriesTransientFailures: true
})
