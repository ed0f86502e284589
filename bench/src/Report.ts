/** The figures as Markdown tables, ready to paste into docs/benchmarks.md. */
import type { Measurement } from "./Load.js"

export interface ReadResult {
  readonly name: string
  readonly parley: Measurement
  readonly floor: Measurement
}

export interface WriteResult {
  readonly name: string
  readonly parley: Measurement
  /** What one request carries (`events`, `sends`, `updates`) and how many. */
  readonly unit: string
  readonly unitsPerRequest: number
  /** Units per second accepted (answered 2xx). */
  readonly acceptedPerSecond: number
  /** Units per second until every accepted unit was stored, when processing follows the answer. */
  readonly processedPerSecond?: number
  /** CPU ms per unit, processing included. */
  readonly cpuMsPerUnit: number
  readonly note?: string
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en") : "–")
const n1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "–")
const n2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "–")

const table = (
  header: ReadonlyArray<string>,
  align: ReadonlyArray<"l" | "r">,
  rows: ReadonlyArray<ReadonlyArray<string>>
) =>
  [
    `| ${header.join(" | ")} |`,
    `| ${align.map((a) => (a === "r" ? "--:" : "---")).join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

export const readTable = (results: ReadonlyArray<ReadResult>) =>
  table(
    [
      "scenario",
      "Parley req/s",
      "floor req/s",
      "Parley ÷ floor",
      "p50 ms Parley / floor",
      "p99 ms Parley / floor",
      "CPU ms/req Parley / floor",
      "PostgreSQL CPU ms/req Parley / floor",
      "RSS MB Parley / floor",
      "failed"
    ],
    ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
    results.map(({ name, parley, floor }) => [
      name,
      n0(parley.requestsPerSecond),
      n0(floor.requestsPerSecond),
      `**${n2(parley.requestsPerSecond / floor.requestsPerSecond)}**`,
      `${n1(parley.p50)} / ${n1(floor.p50)}`,
      `${n1(parley.p99)} / ${n1(floor.p99)}`,
      `${n2(parley.cpuMsPerRequest)} / ${n2(floor.cpuMsPerRequest)}`,
      `${n2(parley.databaseCpuMsPerRequest)} / ${n2(floor.databaseCpuMsPerRequest)}`,
      `${n0(parley.rssMaxMb)} / ${n0(floor.rssMaxMb)}`,
      `${parley.failed} / ${floor.failed}`
    ])
  )

export const writeTable = (results: ReadonlyArray<WriteResult>) =>
  table(
    [
      "scenario (Parley only)",
      "req/s",
      "accepted /s",
      "processed /s",
      "p50 ms",
      "p99 ms",
      "CPU ms per unit",
      "PostgreSQL CPU ms per request",
      "RSS MB",
      "failed",
      "note"
    ],
    ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r", "l"],
    results.map((r) => [
      r.name,
      n0(r.parley.requestsPerSecond),
      `${n0(r.acceptedPerSecond)} ${r.unit}`,
      r.processedPerSecond === undefined ? "–" : `${n0(r.processedPerSecond)} ${r.unit}`,
      n1(r.parley.p50),
      n1(r.parley.p99),
      n2(r.cpuMsPerUnit),
      n2(r.parley.databaseCpuMsPerRequest),
      n0(r.parley.rssMaxMb),
      String(r.parley.failed),
      r.note ?? ""
    ])
  )
