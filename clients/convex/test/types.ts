// Compile-time checks of the client's types: `tsc -p tsconfig.test.json` fails if a line marked
// as an expected error compiles, or if any other line does not. Nothing here runs.
import { type FetchResult, type TenantKeys, type WriteResult, operatorProvider } from "../src/index.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

export async function typeChecks(keys: TenantKeys): Promise<void> {
  const full = await keys.fetchKey({ tenantId: "org_1", provider: "vapi" });
  expectType<Equal<typeof full.credentials, { publicApiKey: string; privateApiKey: string }>>(true);

  const widget = await keys.fetchKey({ tenantId: "org_1", provider: "vapi", view: "public" });
  expectType<Equal<typeof widget.credentials, { publicApiKey: string }>>(true);
  // @ts-expect-error the public view has no private key
  void widget.credentials.privateApiKey;

  const openaiWidget = await keys.fetchKey({ tenantId: "org_1", provider: "openai", view: "public" });
  expectType<Equal<typeof openaiWidget, FetchResult<"openai", "public">>>(true);
  expectType<Equal<keyof typeof openaiWidget.credentials, never>>(true);

  const masked = await keys.fetchKey({ tenantId: "org_1", provider: "openai", view: "masked" });
  expectType<Equal<typeof masked.credentials, { apiKey: string }>>(true);

  const connected = await keys.connectIntegration({
    tenantId: "org_1",
    provider: "vapi",
    credentials: { publicApiKey: "pk", privateApiKey: "sk" },
  });
  expectType<Equal<typeof connected, WriteResult<"vapi">>>(true);

  // @ts-expect-error connect needs every field of the provider
  await keys.connectIntegration({ tenantId: "org_1", provider: "vapi", credentials: { publicApiKey: "pk" } });
  await keys.connectIntegration({
    tenantId: "org_1",
    provider: "openai",
    // @ts-expect-error a field of another provider
    credentials: { apiKey: "sk", privateApiKey: "sk" },
  });
  // @ts-expect-error an unknown provider
  await keys.fetchKey({ tenantId: "org_1", provider: "stripe" });
  // @ts-expect-error an unknown view
  await keys.fetchKey({ tenantId: "org_1", provider: "vapi", view: "plain" });

  await keys.fetchKey({ tenantId: "org_1", provider: "vapi", versionId: "v1", maxAgeSeconds: 30 });
  // @ts-expect-error version and versionId are exclusive
  await keys.fetchKey({ tenantId: "org_1", provider: "vapi", version: "current", versionId: "v1" });
  // @ts-expect-error refresh and maxAgeSeconds are exclusive
  await keys.fetchKey({ tenantId: "org_1", provider: "vapi", refresh: true, maxAgeSeconds: 0 });

  const one = await keys.disconnectIntegration({ tenantId: "org_1", provider: "vapi" });
  const oneProvider: "vapi" = one.provider;
  const all = await keys.disconnectIntegration({ tenantId: "org_1", allProviders: true, purge: true });
  const deletionDates: string[] = all.integrations.map((i) => i.deletionDate);
  // @ts-expect-error provider and allProviders are exclusive
  await keys.disconnectIntegration({ tenantId: "org_1", provider: "vapi", allProviders: true });
  const listed = await keys.listIntegrations({ tenantId: "org_1" });
  const status: "connected" | "disconnected" | undefined = listed.integrations[0]?.status;
  void [oneProvider, deletionDates, status];

  await keys.updateKey({ tenantId: "org_1", provider: "vapi", credentials: { privateApiKey: "sk" } });
  // @ts-expect-error update takes only the provider's fields
  await keys.updateKey({ tenantId: "org_1", provider: "vapi", credentials: { apiKey: "sk" } });

  // An operator's provider: any field names, string values; checked by the functions.
  const stripe = operatorProvider("stripe");
  const operated = await keys.fetchKey({ tenantId: "org_1", provider: stripe, view: "public" });
  expectType<Equal<typeof operated.credentials, { [field: string]: string }>>(true);
  await keys.connectIntegration({ tenantId: "org_1", provider: stripe, credentials: { secretKey: "sk" } });
  // @ts-expect-error values are strings
  await keys.connectIntegration({ tenantId: "org_1", provider: stripe, credentials: { secretKey: 1 } });
  // @ts-expect-error a plain string is not an operator's provider: a typo of a built-in stays an error
  await keys.fetchKey({ tenantId: "org_1", provider: "vapii" });
  const listedProvider = (await keys.listIntegrations({ tenantId: "org_1" })).integrations[0]?.provider;
  if (listedProvider === "vapi" || listedProvider === stripe) void listedProvider;
}
