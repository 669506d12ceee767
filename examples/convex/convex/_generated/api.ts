/**
 * What `npx convex codegen` generates as `_generated/api`: typed references to every function,
 * written out because codegen needs a deployment. In the Echo app this file is generated.
 */
import type { ApiFromModules, FilterApi, FunctionReference } from "convex/server";
import { anyApi } from "convex/server";

import type * as lib_tenantKeys from "../lib/tenantKeys";
import type * as private_plugins from "../private/plugins";
import type * as private_secrets from "../private/secrets";
import type * as private_vapi from "../private/vapi";
import type * as public_vapi from "../public/vapi";
import type * as system_plugins from "../system/plugins";

declare const fullApi: ApiFromModules<{
  "lib/tenantKeys": typeof lib_tenantKeys;
  "private/plugins": typeof private_plugins;
  "private/secrets": typeof private_secrets;
  "private/vapi": typeof private_vapi;
  "public/vapi": typeof public_vapi;
  "system/plugins": typeof system_plugins;
}>;

/** References to the public functions, e.g. `api.public.vapi.getVapiPublicKey`. */
export const api: FilterApi<typeof fullApi, FunctionReference<any, "public">> = anyApi as never;
/** References to the internal functions, e.g. `internal.system.plugins.upsert`. */
export const internal: FilterApi<typeof fullApi, FunctionReference<any, "internal">> =
  anyApi as never;
