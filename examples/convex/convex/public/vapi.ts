/**
 * The chat widget's Vapi public key. The widget runs on customers' sites without a user session and
 * is embedded with its organization id, so the id is an argument here. Only an organization with a
 * `plugins` row gets a key; the `public` view returns only Vapi's public key — which Vapi's web SDK
 * ships to browsers anyway — and is served from fetch-key's cache (every widget load reads it).
 */
import { v } from "convex/values";

import { action } from "../_generated/server";
import { hasVapi, tenantKeys, unlessNotConnected } from "../lib/tenantKeys";

export const getVapiPublicKey = action({
  args: { organizationId: v.string() },
  handler: async (ctx, args): Promise<{ publicApiKey: string } | null> => {
    if (!(await hasVapi(ctx, args.organizationId))) return null;
    const found = await unlessNotConnected(
      tenantKeys().fetchKey({ tenantId: args.organizationId, provider: "vapi", view: "public" }),
    );
    return found === null ? null : { publicApiKey: found.credentials.publicApiKey };
  },
});
