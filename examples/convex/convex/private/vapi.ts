/**
 * The dashboard's Vapi data, read with the organization's private key. The key is fetched in the
 * `full` view — a fresh read, so a key replaced a moment ago is used at once — and used only here,
 * server-side, as Vapi's Bearer token; it is never returned.
 */
import { ConvexError } from "convex/values";

import { action } from "../_generated/server";
import {
  hasVapi,
  requireOrgId,
  tenantKeys,
  toConvexError,
  unlessNotConnected,
} from "../lib/tenantKeys";

/** The fields of a Vapi assistant the dashboard shows. */
export interface Assistant {
  id: string;
  name?: string;
}

export const getAssistants = action({
  args: {},
  handler: async (ctx): Promise<Assistant[]> => {
    const orgId = await requireOrgId(ctx);
    if (!(await hasVapi(ctx, orgId))) {
      throw new ConvexError({ code: "NOT_FOUND", message: "Vapi is not connected" });
    }
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

/** What the settings page shows. */
export type VapiConnection =
  | { connected: false }
  | { connected: true; versionId: string; publicApiKey: string; privateApiKey: string };

/** The settings page: shows which keys are stored without revealing them (`masked` view). */
export const getVapiConnection = action({
  args: {},
  handler: async (ctx): Promise<VapiConnection> => {
    const orgId = await requireOrgId(ctx);
    if (!(await hasVapi(ctx, orgId))) return { connected: false };
    const found = await unlessNotConnected(
      tenantKeys().fetchKey({ tenantId: orgId, provider: "vapi", view: "masked" }),
    );
    if (found === null) return { connected: false };
    const { publicApiKey, privateApiKey } = found.credentials;
    return { connected: true, versionId: found.versionId, publicApiKey, privateApiKey };
  },
});
