/**
 * A minimal Server-Sent Events client over `fetch`, as a consumer would write one: it parses frames (`id:`,
 * `event:`, `data:` lines, comments) as the WHATWG rules say, and lets a test wait for the next ones.
 */

export interface Frame {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: string
}

export interface SseConnection {
  readonly status: number
  readonly headers: Headers
  /** Every event frame so far, in order. */
  readonly frames: () => ReadonlyArray<Frame>
  /** Every comment line so far (heartbeats). */
  readonly comments: () => ReadonlyArray<string>
  /** Resolves once at least `count` event frames arrived (rejects after `timeoutMs`). */
  readonly waitFor: (count: number, timeoutMs?: number) => Promise<ReadonlyArray<Frame>>
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>
  readonly close: () => void
}

export const connect = async (
  url: string,
  options: { readonly key: string; readonly lastEventId?: string | undefined }
): Promise<SseConnection> => {
  const controller = new AbortController()
  const response = await fetch(url, {
    headers: {
      authorization: `Bearer ${options.key}`,
      accept: "text/event-stream",
      ...(options.lastEventId === undefined ? {} : { "last-event-id": options.lastEventId })
    },
    signal: controller.signal
  })
  const frames: Array<Frame> = []
  const comments: Array<string> = []
  const waiters = new Set<() => void>()
  const changed = () => {
    for (const waiter of waiters) waiter()
  }
  let finished = false
  const ended = (async () => {
    if (response.body === null) return
    const decoder = new TextDecoder()
    let buffer = ""
    let current: { id?: string; event?: string; data: Array<string> } = { data: [] }
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true })
        let newline = buffer.indexOf("\n")
        while (newline >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, "")
          buffer = buffer.slice(newline + 1)
          if (line === "") {
            if (current.data.length > 0) {
              frames.push({ id: current.id, event: current.event, data: current.data.join("\n") })
              changed()
            }
            current = { data: [] }
          } else if (line.startsWith(":")) {
            comments.push(line.slice(1).trim())
            changed()
          } else {
            const colon = line.indexOf(":")
            const field = colon < 0 ? line : line.slice(0, colon)
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
            if (field === "id") current.id = value
            else if (field === "event") current.event = value
            else if (field === "data") current.data.push(value)
          }
          newline = buffer.indexOf("\n")
        }
      }
    } catch {
      // Aborted by close().
    } finally {
      finished = true
      changed()
    }
  })()
  const waitFor = (count: number, timeoutMs = 30_000) =>
    new Promise<ReadonlyArray<Frame>>((resolve, reject) => {
      const check = () => {
        if (frames.length >= count) return done(undefined)
        if (finished) return done(new Error(`the stream ended after ${frames.length} of ${count} events`))
      }
      const timer = setTimeout(
        () => done(new Error(`only ${frames.length} of ${count} events within ${timeoutMs} ms`)),
        timeoutMs
      )
      const done = (error: Error | undefined) => {
        clearTimeout(timer)
        waiters.delete(check)
        if (error === undefined) resolve([...frames])
        else reject(error)
      }
      waiters.add(check)
      check()
    })
  return {
    status: response.status,
    headers: response.headers,
    frames: () => [...frames],
    comments: () => [...comments],
    waitFor,
    ended,
    close: () => controller.abort()
  }
}
