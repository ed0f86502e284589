/**
 * Effect's metrics in the Prometheus text exposition format (version 0.0.4): one `# HELP` and `# TYPE` per metric
 * name, then its series. Counters, gauges, histograms (cumulative `_bucket` with `le`, `_sum`, `_count`),
 * frequencies (a counter per value) and summaries (quantiles, `_sum`, `_count`).
 */
import type { MetricPair } from "effect"
import { MetricKeyType, MetricState, Option } from "effect"

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1")
const labelName = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1")
const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const number = (n: number | bigint) => {
  if (typeof n === "bigint") return n.toString()
  if (Number.isNaN(n)) return "NaN"
  if (n === Number.POSITIVE_INFINITY) return "+Inf"
  if (n === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(n)
}

const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${labelName(k)}="${escapeLabel(v)}"`).join(",")}}`

interface Family {
  type: "counter" | "gauge" | "histogram" | "summary"
  help: string
  readonly lines: Array<string>
}

/** Renders a snapshot (`Metric.snapshot`); families and series are sorted for a stable output. */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  const family = (name: string, type: Family["type"], help: Option.Option<string>) => {
    const existing = families.get(name)
    if (existing !== undefined) {
      if (existing.help === "" && Option.isSome(help)) existing.help = help.value
      return existing.lines
    }
    const created: Family = { type, help: Option.getOrElse(help, () => ""), lines: [] }
    families.set(name, created)
    return created.lines
  }

  const seriesKey = (pair: MetricPair.MetricPair.Untyped) =>
    `${pair.metricKey.name}${pair.metricKey.tags.map((t) => `\u0000${t.key}=${t.value}`).join("")}`
  const sorted = [...pairs].sort((a, b) => (seriesKey(a) < seriesKey(b) ? -1 : seriesKey(a) > seriesKey(b) ? 1 : 0))
  for (const pair of sorted) {
    const key = pair.metricKey
    const state: unknown = pair.metricState
    const name = metricName(key.name)
    const tags = key.tags.map((t) => [t.key, t.value] as const)
    if (MetricState.isCounterState(state)) {
      // An Effect counter that is not `incremental` may go down (e.g. active fibers): Prometheus calls that a gauge.
      const incremental = MetricKeyType.isCounterKey(key.keyType) && key.keyType.incremental
      family(name, incremental ? "counter" : "gauge", key.description).push(
        `${name}${labels(tags)} ${number(state.count)}`
      )
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", key.description).push(`${name}${labels(tags)} ${number(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = family(name, "histogram", key.description)
      let sawInfinity = false
      for (const [boundary, count] of state.buckets) {
        if (boundary === Number.POSITIVE_INFINITY) sawInfinity = true
        lines.push(`${name}_bucket${labels([...tags, ["le", number(boundary)]])} ${count}`)
      }
      if (!sawInfinity) lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
      lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isFrequencyState(state)) {
      const lines = family(name, "counter", key.description)
      for (const [value, count] of state.occurrences) {
        lines.push(`${name}${labels([...tags, ["value", value]])} ${count}`)
      }
    } else if (MetricState.isSummaryState(state)) {
      const lines = family(name, "summary", key.description)
      for (const [quantile, value] of state.quantiles) {
        if (Option.isSome(value)) {
          lines.push(`${name}${labels([...tags, ["quantile", number(quantile)]])} ${number(value.value)}`)
        }
      }
      lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${state.count}`)
    }
  }

  const out: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)
    if (f === undefined) continue
    if (f.help !== "") out.push(`# HELP ${name} ${escapeHelp(f.help)}`)
    out.push(`# TYPE ${name} ${f.type}`)
    out.push(...f.lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}
