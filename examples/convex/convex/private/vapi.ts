/**
 * The dashboard's Vapi data, read with the organization's private key — which never reaches this
 * backend: tenant-keys' call-provider calls Vapi with it, inside AWS, and passes back Vapi's
 * answer. A key replaced a moment ago works at once (Vapi refuses the old one, and call-provider
 * then reads the new one). Nothing here asks for the `full` view of Vapi's keys.
 */
import { ConvexError } from "convex/values";

import { action } from "../_generated/server";
import {
  hasVapi,
  requireOrgId,
  tenantKeys,
  toConvexError,
  unlessNotConnected,
} from "../lib/tenantKeys";

/** The fields of a Vapi assistant the dashboard shows. */
export interface Assistant {
  id: string;
  name?: string;
}

/** The fields of a Vapi phone number the dashboard shows. */
export interface PhoneNumber {
  id: string;
  number?: string;
}

/** A list from Vapi's API (`GET /assistant`, `GET /phone-number`), called as the organization. */
async function vapiList(orgId: string, path: "/assistant" | "/phone-number"): Promise<unknown[]> {
  const answer = await tenantKeys()
    .callProvider({ tenantId: orgId, provider: "vapi", method: "GET", path })
    .catch(toConvexError);
  if (answer.status !== 200) {
    throw new ConvexError({ code: "VAPI_ERROR", message: `Vapi answered ${answer.status}` });
  }
  const list = answer.json();
  return Array.isArray(list) ? list : [];
}

export const getAssistants = action({
  args: {},
  handler: async (ctx): Promise<Assistant[]> => {
    const orgId = await requireOrgId(ctx);
    if (!(await hasVapi(ctx, orgId))) {
      throw new ConvexError({ code: "NOT_FOUND", message: "Vapi is not connected" });
    }
    const assistants = (await vapiList(orgId, "/assistant")) as Assistant[];
    return assistants.map(({ id, name }) => (name === undefined ? { id } : { id, name }));
  },
});

export const getPhoneNumbers = action({
  args: {},
  handler: async (ctx): Promise<PhoneNumber[]> => {
    const orgId = await requireOrgId(ctx);
    if (!(await hasVapi(ctx, orgId))) {
      throw new ConvexError({ code: "NOT_FOUND", message: "Vapi is not connected" });
    }
    const numbers = (await vapiList(orgId, "/phone-number")) as PhoneNumber[];
    return numbers.map(({ id, number }) => (number === undefined ? { id } : { id, number }));
  },
});

/** What the settings page shows. */
export type VapiConnection =
  | { connected: false }
  | { connected: true; versionId: string; publicApiKey: string; privateApiKey: string };

/** The settings page: shows which keys are stored without revealing them (`masked` view). */
export const getVapiConnection = action({
  args: {},
  handler: async (ctx): Promise<VapiConnection> => {
    const orgId = await requireOrgId(ctx);
    if (!(await hasVapi(ctx, orgId))) return { connected: false };
    const found = await unlessNotConnected(
      tenantKeys().fetchKey({ tenantId: orgId, provider: "vapi", view: "masked" }),
    );
    if (found === null) return { connected: false };
    const { publicApiKey, privateApiKey } = found.credentials;
    return { connected: true, versionId: found.versionId, publicApiKey, privateApiKey };
  },
});
