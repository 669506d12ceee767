// Generated from providers/catalog.json by scripts/generate-providers.mjs: do not edit.
// Run `npm run generate:providers` after changing the catalog.

/**
 * The built-in providers, as the functions' catalog holds them: their credential fields, whether
 * call-provider can call their API, and the header their key goes in there.
 */
export const PROVIDERS = {
  "vapi": { fields: ["publicApiKey", "privateApiKey"], public: ["publicApiKey"], api: true, keyHeader: "authorization" },
  "openai": { fields: ["apiKey"], public: [], api: true, keyHeader: "authorization" },
  "anthropic": { fields: ["apiKey"], public: [], api: true, keyHeader: "x-api-key" },
  "elevenlabs": { fields: ["apiKey"], public: [], api: true, keyHeader: "xi-api-key" },
  "deepgram": { fields: ["apiKey"], public: [], api: true, keyHeader: "authorization" },
  "twilio": { fields: ["accountSid", "authToken"], public: [], api: true, keyHeader: "authorization" },
  "gemini": { fields: ["apiKey"], public: [], api: true, keyHeader: "x-goog-api-key" },
  "groq": { fields: ["apiKey"], public: [], api: true, keyHeader: "authorization" },
} as const satisfies Record<
  string,
  { fields: readonly string[]; public: readonly string[]; api: boolean; keyHeader: string | null }
>;
