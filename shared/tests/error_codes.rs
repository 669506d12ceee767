//! `tenant_keys::error::CODES` is the one list of problem codes; the two other places that list
//! them for readers must say the same: the API reference's error table (`docs/api.md`) (status and code, in order), and the
//! TypeScript client's list, which this test generates (`clients/convex/src/contract.generated.ts`).

use std::path::Path;

use tenant_keys::error::CODES;
use tenant_keys::template::RESERVED_HEADERS;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn the_api_references_error_table_is_the_list_of_codes() {
    let reference = read("docs/api.md");
    let table: Vec<(u16, String)> = reference
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let status = cells.next()?.parse().ok()?;
            let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((status, code.to_owned()))
        })
        .collect();
    let listed: Vec<(u16, String)> = CODES
        .iter()
        .map(|(status, code)| (*status, (*code).to_owned()))
        .collect();
    assert_eq!(
        table, listed,
        "docs/api.md's error table differs from error::CODES"
    );
}

/// The TypeScript client's lists of the contract, generated from the functions': the error codes
/// ([`CODES`]) and the headers call-provider reserves ([`RESERVED_HEADERS`]).
const GENERATED: &str = "clients/convex/src/contract.generated.ts";

/// What [`GENERATED`] holds: every code with its status, in [`CODES`]' order, and the reserved
/// headers.
fn typescript() -> String {
    let mut out = String::from(
        "// Generated from tenant_keys::error::CODES and tenant_keys::template::RESERVED_HEADERS by\n\
         // shared/tests/error_codes.rs:\n\
         // do not edit. Run `TENANT_KEYS_REGENERATE=1 cargo test -p tenant-keys-shared --test error_codes`\n\
         // after changing the codes.\n\n\
         /** The error codes of the tenant-keys API contract (docs/api.md, \"Errors\"), with their status. */\n\
         export const API_ERROR_STATUS = {\n",
    );
    for (status, code) in CODES {
        out.push_str(&format!("  {code}: {status},\n"));
    }
    out.push_str(
        "} as const satisfies Record<string, number>;\n\n\
         /** The error codes of the tenant-keys API contract. */\n\
         export const API_ERROR_CODES = Object.keys(API_ERROR_STATUS) as (keyof typeof API_ERROR_STATUS)[];\n\n\
         /** Headers call-provider sets itself, or that belong to one hop: a call may not send them. */\n\
         export const RESERVED_HEADERS = [\n",
    );
    for name in RESERVED_HEADERS {
        out.push_str(&format!("  \"{name}\",\n"));
    }
    out.push_str("] as const;\n");
    out
}

#[test]
fn the_typescript_clients_codes_are_generated_from_the_list_of_codes() {
    let want = typescript();
    if std::env::var_os("TENANT_KEYS_REGENERATE").is_some() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::write(root.join(GENERATED), &want).unwrap();
    }
    assert!(
        read(GENERATED) == want,
        "{GENERATED} differs from error::CODES: run TENANT_KEYS_REGENERATE=1 cargo test -p tenant-keys-shared --test error_codes"
    );
}
