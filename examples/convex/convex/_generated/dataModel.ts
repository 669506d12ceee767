/**
 * What `npx convex codegen` generates as `_generated/dataModel` for `schema.ts`, written out
 * because codegen needs a deployment. In the Echo app this file is generated.
 */
import type {
  DataModelFromSchemaDefinition,
  DocumentByName,
  TableNamesInDataModel,
} from "convex/server";
import type { GenericId } from "convex/values";

import type schema from "../schema";

/** The app's data model, from its schema. */
export type DataModel = DataModelFromSchemaDefinition<typeof schema>;
/** The names of the app's tables. */
export type TableNames = TableNamesInDataModel<DataModel>;
/** A document of `Table`. */
export type Doc<Table extends TableNames> = DocumentByName<DataModel, Table>;
/** The id of a document of `Table`. */
export type Id<Table extends TableNames> = GenericId<Table>;
