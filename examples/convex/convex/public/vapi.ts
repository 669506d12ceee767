/**
 * The chat widget's Vapi public key. The widget runs on customers' sites without a user session and
 * is embedded with its organization id, so the id is an argument here; the `public` view returns
 * only Vapi's public key — which Vapi's web SDK ships to browsers anyway — and its type has no
 * private key to leak by mistake.
 */
import { v } from "convex/values";

import { action } from "../_generated/server";
import { tenantKeys, unlessNotConnected } from "../lib/tenantKeys";

export const getVapiPublicKey = action({
  args: { organizationId: v.string() },
  handler: async (_ctx, args): Promise<{ publicApiKey: string } | null> => {
    const found = await unlessNotConnected(
      tenantKeys().fetchKey({ tenantId: args.organizationId, provider: "vapi", view: "public" }),
    );
    return found === null ? null : { publicApiKey: found.credentials.publicApiKey };
  },
});
