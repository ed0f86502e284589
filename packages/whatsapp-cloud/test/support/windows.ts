/**
 * The most events in any half-open interval `[t, t + window)`. Limiter times are fractional milliseconds
 * (`window / limit` apart), so differences within a nanosecond of the window count as a full window.
 */
export const maxInWindow = (times: ReadonlyArray<number>, window: number): number => {
  const sorted = [...times].sort((a, b) => a - b)
  let max = 0
  let start = 0
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= window - 1e-6) start++
    max = Math.max(max, end - start + 1)
  }
  return max
}
