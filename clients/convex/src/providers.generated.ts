// Generated from providers/catalog.json by scripts/generate-providers.mjs: do not edit.
// Run `npm run generate:providers` after changing the catalog.

/** The built-in providers and their credential fields, as the functions' catalog holds them. */
export const PROVIDERS = {
  "vapi": { fields: ["publicApiKey", "privateApiKey"], public: ["publicApiKey"] },
  "openai": { fields: ["apiKey"], public: [] },
  "anthropic": { fields: ["apiKey"], public: [] },
  "elevenlabs": { fields: ["apiKey"], public: [] },
  "deepgram": { fields: ["apiKey"], public: [] },
  "twilio": { fields: ["accountSid", "authToken"], public: [] },
  "gemini": { fields: ["apiKey"], public: [] },
  "groq": { fields: ["apiKey"], public: [] },
} as const satisfies Record<string, { fields: readonly string[]; public: readonly string[] }>;
