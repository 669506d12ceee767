/**
 * Connecting Vapi from the dashboard's integration page. The organization comes from the signed-in
 * user's token; the keys are checked with Vapi before they are stored; the action returns only
 * once tenant-keys has stored them (or throws why not), so the page never shows a false success.
 */
import { ConvexError, v } from "convex/values";

import { action } from "../_generated/server";
import { requireOrgId, tenantKeys, toConvexError } from "../lib/tenantKeys";

export const connectVapi = action({
  args: {
    publicApiKey: v.string(),
    privateApiKey: v.string(),
    /** A fresh id per form submission: a retried action then stores the keys once. */
    submissionId: v.string(),
  },
  handler: async (ctx, args) => {
    const orgId = await requireOrgId(ctx);
    const check = await fetch("https://api.vapi.ai/assistant?limit=1", {
      headers: { Authorization: `Bearer ${args.privateApiKey}` },
    });
    if (check.status === 401) {
      throw new ConvexError({ code: "INVALID_KEY", message: "Vapi refused the private key" });
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
    // Echo records the connection in its `plugins` table here (ctx.runMutation).
    return { connected: true, versionId: stored.versionId, keys: stored.credentials };
  },
});
