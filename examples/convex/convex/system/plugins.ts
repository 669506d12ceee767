/**
 * Echo's `plugins` rows, written and read only by other Convex functions: a row says the
 * organization has connected the service.
 */
import { v } from "convex/values";

import type { Doc } from "../_generated/dataModel";
import { type QueryCtx, internalMutation, internalQuery } from "../_generated/server";

const service = v.literal("vapi");

/** The organization's row for the service, if connected. */
function findPlugin(
  ctx: QueryCtx,
  args: { organizationId: string; service: "vapi" },
): Promise<Doc<"plugins"> | null> {
  return ctx.db
    .query("plugins")
    .withIndex("by_organization_id_and_service", (q) =>
      q.eq("organizationId", args.organizationId).eq("service", args.service),
    )
    .unique();
}

/** The organization's row for `service`, if connected. */
export const getByOrganizationIdAndService = internalQuery({
  args: { organizationId: v.string(), service },
  handler: async (ctx, args): Promise<Doc<"plugins"> | null> => findPlugin(ctx, args),
});

/** Records the connection (once, however often the keys are replaced). */
export const upsert = internalMutation({
  args: { organizationId: v.string(), service, secretName: v.string() },
  handler: async (ctx, args): Promise<void> => {
    const existing = await findPlugin(ctx, args);
    if (existing === null) {
      await ctx.db.insert("plugins", args);
    } else {
      await ctx.db.patch(existing._id, { secretName: args.secretName });
    }
  },
});

/** Forgets the connection. */
export const remove = internalMutation({
  args: { organizationId: v.string(), service },
  handler: async (ctx, args): Promise<void> => {
    const existing = await findPlugin(ctx, args);
    if (existing !== null) await ctx.db.delete(existing._id);
  },
});
