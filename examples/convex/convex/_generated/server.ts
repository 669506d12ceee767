/**
 * What `npx convex codegen` generates as `_generated/server` for an app without a schema, written
 * out because codegen needs a deployment and the example is only type-checked. In the Echo app this
 * file is generated; nothing here is specific to tenant-keys.
 */
import {
  type ActionBuilder,
  type AnyDataModel,
  type GenericActionCtx,
  actionGeneric,
  internalActionGeneric,
} from "convex/server";

/** A public action (callable from the browser). */
export const action: ActionBuilder<AnyDataModel, "public"> = actionGeneric;
/** An action callable only from other Convex functions. */
export const internalAction: ActionBuilder<AnyDataModel, "internal"> = internalActionGeneric;
/** The context an action receives. */
export type ActionCtx = GenericActionCtx<AnyDataModel>;
