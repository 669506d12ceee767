/**
 * Connecting Vapi from the dashboard's integration page. The organization comes from the signed-in
 * user's token; tenant-keys checks the private key with Vapi before anything is stored (`verify`);
 * the action returns only once the keys are stored and the `plugins` row is written (or throws
 * why not — `credentials_rejected` for a key Vapi refuses), so the page never shows a false
 * success. Reconnecting after a disconnect restores the secret.
 */
import { v } from "convex/values";

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
    const stored = await tenantKeys()
      .connectIntegration(
        {
          tenantId: orgId,
          provider: "vapi",
          credentials: { publicApiKey: args.publicApiKey, privateApiKey: args.privateApiKey },
          verify: true,
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
