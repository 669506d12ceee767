/**
 * The part of Echo's schema the Vapi flows touch: `plugins`, one row per organization and connected
 * service. A row is what makes an integration "connected" in the app — never the mere existence of
 * a secret (a disconnected secret stays in Secrets Manager until its deletion date).
 */
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  plugins: defineTable({
    organizationId: v.string(),
    service: v.literal("vapi"),
    /** The tenant-keys secret the keys live in, `tenant/<organizationId>/vapi`. */
    secretName: v.string(),
  })
    .index("by_organization_id", ["organizationId"])
    .index("by_organization_id_and_service", ["organizationId", "service"]),
});
