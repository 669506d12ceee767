/**
 * The one tenant-keys client of the app, and the helpers every Vapi function uses: the signed-in
 * organization, whether it has connected Vapi (its `plugins` row), and the mapping of tenant-keys
 * errors to ConvexErrors the UI can show.
 */
import { type TenantKeys, TenantKeysError, createTenantKeys } from "@tenant-keys/convex";
import type { Auth } from "convex/server";
import { ConvexError } from "convex/values";

import { internal } from "../_generated/api";
import type { ActionCtx } from "../_generated/server";

let client: TenantKeys | undefined;

/**
 * The client, created on first use from `TENANT_KEYS_URL` and `TENANT_KEYS_SIGNING_SECRET`
 * (`npx convex env set …`), so a missing variable fails the calls that need it, not every module.
 */
export function tenantKeys(): TenantKeys {
  client ??= createTenantKeys({
    baseUrl: process.env.TENANT_KEYS_URL ?? "",
    signingSecret: process.env.TENANT_KEYS_SIGNING_SECRET ?? "",
  });
  return client;
}

/** The signed-in user's organization: from the Clerk token, never from the caller's arguments. */
export async function requireOrgId(ctx: { auth: Auth }): Promise<string> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    throw new ConvexError({ code: "UNAUTHORIZED", message: "Identity not found" });
  }
  const orgId = identity.orgId;
  if (typeof orgId !== "string" || orgId === "") {
    throw new ConvexError({ code: "UNAUTHORIZED", message: "Organization not found" });
  }
  return orgId;
}

/**
 * Whether the organization has connected Vapi: its `plugins` row — never "a secret exists", since a
 * disconnected secret stays readable to Secrets Manager until its deletion date.
 */
export async function hasVapi(ctx: ActionCtx, organizationId: string): Promise<boolean> {
  const plugin = await ctx.runQuery(internal.system.plugins.getByOrganizationIdAndService, {
    organizationId,
    service: "vapi",
  });
  return plugin !== null;
}

/**
 * The answer of `call`, or `null` when the organization's keys are not there (`not_found`: never
 * connected, or disconnected); any other failure becomes a ConvexError, as `toConvexError` makes it.
 */
export async function unlessNotConnected<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof TenantKeysError && error.code === "not_found") return null;
    return toConvexError(error);
  }
}

/**
 * A tenant-keys failure as a ConvexError: its code and message are safe to show (they name fields,
 * never values); anything else is rethrown as it is.
 */
export function toConvexError(error: unknown): never {
  if (error instanceof TenantKeysError) {
    throw new ConvexError({ code: error.code, message: error.detail });
  }
  throw error;
}
