/**
 * The dashboard's Vapi data, read with the organization's private key. The key is fetched in the
 * `full` view and used only here, server-side, as Vapi's Bearer token; it is never returned.
 */
import { ConvexError } from "convex/values";

import { action } from "../_generated/server";
import { requireOrgId, tenantKeys, toConvexError, unlessNotConnected } from "../lib/tenantKeys";

/** The fields of a Vapi assistant the dashboard shows. */
interface Assistant {
  id: string;
  name?: string;
}

export const getAssistants = action({
  args: {},
  handler: async (ctx): Promise<Assistant[]> => {
    const orgId = await requireOrgId(ctx);
    const { credentials } = await tenantKeys()
      .fetchKey({ tenantId: orgId, provider: "vapi", view: "full" })
      .catch(toConvexError);
    const response = await fetch("https://api.vapi.ai/assistant", {
      headers: { Authorization: `Bearer ${credentials.privateApiKey}` },
    });
    if (!response.ok) {
      throw new ConvexError({ code: "VAPI_ERROR", message: `Vapi answered ${response.status}` });
    }
    const assistants = (await response.json()) as Assistant[];
    return assistants.map(({ id, name }) => (name === undefined ? { id } : { id, name }));
  },
});

/** The settings page: shows which keys are stored without revealing them (`masked` view). */
export const getVapiConnection = action({
  args: {},
  handler: async (ctx) => {
    const orgId = await requireOrgId(ctx);
    const found = await unlessNotConnected(
      tenantKeys().fetchKey({ tenantId: orgId, provider: "vapi", view: "masked" }),
    );
    if (found === null) return { connected: false as const };
    const { publicApiKey, privateApiKey } = found.credentials;
    return { connected: true as const, versionId: found.versionId, publicApiKey, privateApiKey };
  },
});
