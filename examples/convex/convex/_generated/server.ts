/**
 * What `npx convex codegen` generates as `_generated/server`, written out because codegen needs a
 * deployment. In the Echo app this file is generated; nothing here is specific to tenant-keys.
 */
import {
  type ActionBuilder,
  type GenericActionCtx,
  type GenericMutationCtx,
  type GenericQueryCtx,
  type MutationBuilder,
  type QueryBuilder,
  actionGeneric,
  internalActionGeneric,
  internalMutationGeneric,
  internalQueryGeneric,
  mutationGeneric,
  queryGeneric,
} from "convex/server";

import type { DataModel } from "./dataModel";

/** A public query (callable from the browser). */
export const query: QueryBuilder<DataModel, "public"> = queryGeneric;
/** A query callable only from other Convex functions. */
export const internalQuery: QueryBuilder<DataModel, "internal"> = internalQueryGeneric;
/** A public mutation. */
export const mutation: MutationBuilder<DataModel, "public"> = mutationGeneric;
/** A mutation callable only from other Convex functions. */
export const internalMutation: MutationBuilder<DataModel, "internal"> = internalMutationGeneric;
/** A public action (callable from the browser). */
export const action: ActionBuilder<DataModel, "public"> = actionGeneric;
/** An action callable only from other Convex functions. */
export const internalAction: ActionBuilder<DataModel, "internal"> = internalActionGeneric;
/** The context a query receives. */
export type QueryCtx = GenericQueryCtx<DataModel>;
/** The context a mutation receives. */
export type MutationCtx = GenericMutationCtx<DataModel>;
/** The context an action receives. */
export type ActionCtx = GenericActionCtx<DataModel>;
