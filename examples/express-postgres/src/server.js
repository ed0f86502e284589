/** `node src/server.js`: the example app on DATABASE_URL, PORT, PARLEY_SECRET_KEY, WHATSAPP_APP_SECRET. */
import { createApp } from "./app.js"
import { makeParleyRuntime } from "./parley.js"

const runtime = makeParleyRuntime({
  databaseUrl: process.env.DATABASE_URL,
  secretKey: process.env.PARLEY_SECRET_KEY,
  whatsappApiUrl: process.env.WHATSAPP_API_URL
})
// The app's sessions would come from its own login; one fixed session here.
const sessions = new Map()
const server = createApp({ runtime, sessions, appSecret: process.env.WHATSAPP_APP_SECRET }).listen(
  Number(process.env.PORT ?? 3000)
)
process.on("SIGTERM", () => server.close(() => runtime.dispose()))
