/**
 * `@tenant-keys/convex/secrets-manager`: the three functions an Echo-style `convex/lib/secrets.ts`
 * exports — `getSecretValue`, `upsertSecret`, `parseSecretString` — with the same signatures and
 * behaviour, answered by tenant-keys instead of the AWS SDK. That module becomes a re-export and no
 * caller changes:
 *
 * ```ts
 * export { getSecretValue, parseSecretString, upsertSecret } from "@tenant-keys/convex/secrets-manager";
 * ```
 *
 * Secret names must be `tenant/<tenantId>/<provider>`, as Echo writes them. The stack comes from
 * the Convex environment variables `TENANT_KEYS_URL` and `TENANT_KEYS_SIGNING_SECRET`, read on the
 * first call. Works in Convex's default runtime and in `"use node"` files (no Node built-ins).
 */
import { type TenantKeys, createTenantKeys } from "./client.js";
import { TenantKeysError } from "./errors.js";
import { type Provider, PROVIDERS, operatorProvider } from "./providers.js";

/**
 * What `getSecretValue` answers: the fields of the AWS SDK's `GetSecretValueCommandOutput` that
 * tenant-keys knows. `SecretString` is the flat JSON object of the provider's fields, as Echo
 * stored it; the version is always the current one.
 */
export interface SecretValue {
  /** The secret's name, `tenant/<tenantId>/<provider>`. */
  Name: string;
  /** The credentials as the flat JSON object Echo stores (`{"publicApiKey":"…",…}`). */
  SecretString: string;
  /** The current version's id. */
  VersionId: string;
  /** Always `["AWSCURRENT"]`: the current version is read. */
  VersionStages: string[];
}

/**
 * Never connected, or disconnected: the error an AWS SDK caller expects, by its `name`
 * (`ResourceNotFoundException`), so checks of `error.name` keep working. Still a
 * `TenantKeysError` (`status` 404, `code` `not_found`, and `deletionDate` when disconnected).
 */
export class ResourceNotFoundException extends TenantKeysError {
  override readonly name = "ResourceNotFoundException";
}

/** The three functions, bound to one client (e.g. one made with other options than the default). */
export interface SecretsModule {
  /** A fresh full read of the secret's current credentials. */
  getSecretValue(secretName: string): Promise<SecretValue>;
  /** Stores the credentials (connect-integration): creates the secret or replaces its value. */
  upsertSecret(secretName: string, secretValue: Record<string, unknown>): Promise<void>;
  /** The parsed `SecretString`, or `null` when it is missing or not JSON. */
  parseSecretString<T = Record<string, unknown>>(secret: { SecretString?: string | undefined }): T | null;
}

/** `tenant/<tenantId>/<provider>`: tenant-keys' own rules for each part are checked by the functions. */
const SECRET_NAME = /^tenant\/([^/]+)\/([^/]+)$/;

/**
 * The three functions on `tenantKeys`. The default exports below use a client made from the
 * environment on first use.
 */
export function secretsModule(tenantKeys: () => TenantKeys): SecretsModule {
  return {
    async getSecretValue(secretName) {
      const { tenantId, provider } = parseSecretName(secretName);
      try {
        const fetched = await tenantKeys().fetchKey({ tenantId, provider, view: "full" });
        return {
          Name: secretName,
          SecretString: JSON.stringify(fetched.credentials),
          VersionId: fetched.versionId,
          VersionStages: ["AWSCURRENT"],
        };
      } catch (error) {
        throw asNotFound(error);
      }
    },

    async upsertSecret(secretName, secretValue) {
      const { tenantId, provider } = parseSecretName(secretName);
      const credentials = checkedCredentials(provider, secretValue);
      await tenantKeys().connectIntegration({ tenantId, provider, credentials });
    },

    parseSecretString<T>(secret: { SecretString?: string | undefined }): T | null {
      if (!secret.SecretString) return null;
      try {
        return JSON.parse(secret.SecretString) as T;
      } catch {
        return null;
      }
    },
  };
}

/** The parts of a secret name, or a `TypeError` naming the rule. */
function parseSecretName(secretName: string): { tenantId: string; provider: Provider } {
  const parts = typeof secretName === "string" ? SECRET_NAME.exec(secretName) : null;
  if (!parts) {
    throw new TypeError("a secret name must be tenant/<tenantId>/<provider>");
  }
  const [, tenantId = "", provider = ""] = parts;
  return { tenantId, provider: isBuiltIn(provider) ? provider : operatorProvider(provider) };
}

function isBuiltIn(provider: string): provider is keyof typeof PROVIDERS {
  return Object.hasOwn(PROVIDERS, provider);
}

/**
 * The value as credentials: every value a string and, for a built-in provider, exactly its
 * fields — else a `TypeError` naming the field, before anything is sent (the functions check an
 * operator's provider). Never a partial write: connect stores all fields or nothing.
 */
function checkedCredentials(provider: Provider, value: Record<string, unknown>): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("a secret value must be an object of the provider's fields");
  }
  const credentials: Record<string, string> = {};
  for (const [field, fieldValue] of Object.entries(value)) {
    if (typeof fieldValue !== "string") {
      throw new TypeError(`the secret value's field ${field} must be a string`);
    }
    credentials[field] = fieldValue;
  }
  if (isBuiltIn(provider)) {
    const fields: readonly string[] = PROVIDERS[provider].fields;
    const unknown = Object.keys(credentials).find((field) => !fields.includes(field));
    if (unknown !== undefined) {
      throw new TypeError(`${unknown} is not a field of provider ${provider} (its fields: ${fields.join(", ")})`);
    }
    const missing = fields.find((field) => !(field in credentials));
    if (missing !== undefined) {
      throw new TypeError(`the secret value needs the field ${missing} of provider ${provider}`);
    }
  }
  return credentials;
}

/** A `not_found` as the AWS SDK names it; any other failure as it is. */
function asNotFound(error: unknown): unknown {
  if (error instanceof TenantKeysError && error.code === "not_found") {
    return new ResourceNotFoundException(
      {
        status: error.status,
        code: error.code,
        title: error.title,
        detail: error.detail,
        deletionDate: error.deletionDate,
      },
      { cause: error },
    );
  }
  return error;
}

/** `process.env` where the runtime has it (Convex's runtimes do), read without Node's types. */
function environment(name: string): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[name];
  if (!value) {
    throw new Error(`${name} is not set: set it in the Convex deployment's environment variables`);
  }
  return value;
}

let fromEnvironment: TenantKeys | undefined;

/**
 * The client the functions below use: the environment's stack (`TENANT_KEYS_URL`,
 * `TENANT_KEYS_SIGNING_SECRET`), made on first use. For the calls the three functions do not
 * cover (disconnect, `verify`, the cached public view).
 */
export function tenantKeys(): TenantKeys {
  fromEnvironment ??= createTenantKeys({
    baseUrl: environment("TENANT_KEYS_URL"),
    signingSecret: environment("TENANT_KEYS_SIGNING_SECRET"),
  });
  return fromEnvironment;
}

const fromEnv = secretsModule(tenantKeys);

/**
 * A fresh full read of `tenant/<tenantId>/<provider>`'s current credentials, shaped as the AWS
 * SDK's answer (`SecretString` is the flat JSON). Never connected or disconnected: a
 * {@link ResourceNotFoundException}; other failures: a `TenantKeysError`.
 */
export const getSecretValue: SecretsModule["getSecretValue"] = fromEnv.getSecretValue;

/**
 * Stores `secretValue` (the provider's fields, all of them) under `tenant/<tenantId>/<provider>`:
 * creates the secret or replaces its value, as Echo's CreateSecret-then-PutSecretValue did. A bad
 * name or value is a `TypeError` naming the rule, before anything is sent; the functions' refusals
 * are `TenantKeysError`s. Nothing is half-written.
 */
export const upsertSecret: SecretsModule["upsertSecret"] = fromEnv.upsertSecret;

/** The parsed `SecretString` of a `getSecretValue` answer, or `null` when missing or not JSON. */
export const parseSecretString: SecretsModule["parseSecretString"] = fromEnv.parseSecretString;
