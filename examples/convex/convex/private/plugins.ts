/**
 * The integration page's view of Echo's `plugins` table, and "Disconnect": the row is deleted and
 * the keys are taken out of reach in Secrets Manager (deleted after the stack's recovery window; a
 * reconnect before then restores them).
 */
import { v } from "convex/values";

import type { Doc } from "../_generated/dataModel";
import { internal } from "../_generated/api";
import { action, query } from "../_generated/server";
import { requireOrgId, tenantKeys, toConvexError, unlessNotConnected } from "../lib/tenantKeys";

/** The signed-in organization's row for `service`, or `null` when not connected. */
export const getOne = query({
  args: { service: v.literal("vapi") },
  handler: async (ctx, args): Promise<Doc<"plugins"> | null> => {
    const orgId = await requireOrgId(ctx);
    return ctx.db
      .query("plugins")
      .withIndex("by_organization_id_and_service", (q) =>
        q.eq("organizationId", orgId).eq("service", args.service),
      )
      .unique();
  },
});

/**
 * Disconnects Vapi: the keys first (so they are out of reach even if the page is closed), then the
 * row. Keys already disconnected (`not_found`) are not an error: the row goes either way.
 */
export const remove = action({
  args: { service: v.literal("vapi") },
  handler: async (ctx, args): Promise<{ deletionDate: string | null }> => {
    const orgId = await requireOrgId(ctx);
    const disconnected = await unlessNotConnected(
      tenantKeys().disconnectIntegration({ tenantId: orgId, provider: args.service }),
    ).catch(toConvexError);
    await ctx.runMutation(internal.system.plugins.remove, {
      organizationId: orgId,
      service: args.service,
    });
    return { deletionDate: disconnected?.deletionDate ?? null };
  },
});
