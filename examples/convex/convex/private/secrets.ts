/**
 * Connecting Vapi from the dashboard's integration page. The organization comes from the signed-in
 * user's token; the private key is checked with Vapi before anything is stored; the action returns
 * only once tenant-keys has stored the keys and the `plugins` row is written (or throws why not),
 * so the page never shows a false success. Reconnecting after a disconnect restores the secret.
 */
import { ConvexError, v } from "convex/values";

import { internal } from "../_generated/api";
import { action } from "../_generated/server";
import { requireOrgId, tenantKeys, toConvexError } from "../lib/tenantKeys";

/** What the integration page gets back: never a key, only its masked form. */
export interface Connected {
  versionId: string;
  restored: boolean;
  keys: { publicApiKey: string; privateApiKey: string };
}

export const connectVapi = action({
  args: {
    publicApiKey: v.string(),
    privateApiKey: v.string(),
    /** A fresh id per form submission: a retried action then stores the keys once. */
    submissionId: v.string(),
  },
  handler: async (ctx, args): Promise<Connected> => {
    const orgId = await requireOrgId(ctx);
    const check = await fetch("https://api.vapi.ai/assistant?limit=1", {
      headers: { Authorization: `Bearer ${args.privateApiKey}` },
    });
    if (check.status === 401 || check.status === 403) {
      throw new ConvexError({ code: "INVALID_KEY", message: "Vapi refused the private key" });
    }
    if (!check.ok) {
      throw new ConvexError({ code: "VAPI_ERROR", message: `Vapi answered ${check.status}` });
    }
    const stored = await tenantKeys()
      .connectIntegration(
        {
          tenantId: orgId,
          provider: "vapi",
          credentials: { publicApiKey: args.publicApiKey, privateApiKey: args.privateApiKey },
        },
        { idempotencyKey: `connect-vapi:${orgId}:${args.submissionId}` },
      )
      .catch(toConvexError);
    await ctx.runMutation(internal.system.plugins.upsert, {
      organizationId: orgId,
      service: "vapi",
      secretName: `tenant/${orgId}/vapi`,
    });
    return { versionId: stored.versionId, restored: stored.restored, keys: stored.credentials };
  },
});
