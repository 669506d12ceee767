// Writes src/providers.generated.ts from the provider catalog (providers/catalog.json), the one
// place a provider is defined. `--check` writes nothing and fails when the checked-in file is not
// what the catalog gives (scripts/check-typescript runs it).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const catalogPath = join(here, "..", "..", "..", "providers", "catalog.json");
const outPath = join(here, "..", "src", "providers.generated.ts");

const catalog = JSON.parse(readFileSync(catalogPath, "utf8"));
const lines = catalog.providers.map((provider) => {
  const fields = provider.fields.map((f) => JSON.stringify(f.name)).join(", ");
  const publicFields = provider.fields
    .filter((f) => f.public)
    .map((f) => JSON.stringify(f.name))
    .join(", ");
  // Where call-provider puts the key, so that a provider SDK's own key header is left out of a
  // call (providerFetch): null when the provider has no API or takes the key in the query.
  const send = provider.api?.send ?? {};
  const keyHeader = send.bearer !== undefined || send.basic !== undefined
    ? "authorization"
    : send.header?.name ?? null;
  return `  ${JSON.stringify(provider.id)}: { fields: [${fields}], public: [${publicFields}], api: ${provider.api ? "true" : "false"}, keyHeader: ${JSON.stringify(keyHeader)} },`;
});
const text = `// Generated from providers/catalog.json by scripts/generate-providers.mjs: do not edit.
// Run \`npm run generate:providers\` after changing the catalog.

/**
 * The built-in providers, as the functions' catalog holds them: their credential fields, whether
 * call-provider can call their API, and the header their key goes in there.
 */
export const PROVIDERS = {
${lines.join("\n")}
} as const satisfies Record<
  string,
  { fields: readonly string[]; public: readonly string[]; api: boolean; keyHeader: string | null }
>;
`;

if (process.argv.includes("--check")) {
  const current = readFileSync(outPath, "utf8");
  if (current !== text) {
    console.error(
      "clients/convex/src/providers.generated.ts is out of date with providers/catalog.json: " +
        "run npm run --prefix clients/convex generate:providers",
    );
    process.exit(1);
  }
} else {
  writeFileSync(outPath, text);
}
