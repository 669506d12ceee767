//! `tenant_keys::error::CODES` is the one list of problem codes; the two other places that list
//! them for readers must say the same: README's error table (status and code, in order) and the
//! TypeScript client's `API_ERROR_CODES` (`clients/convex/src/errors.ts`).

use std::path::Path;

use tenant_keys::error::CODES;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn readmes_error_table_is_the_list_of_codes() {
    let readme = read("README.md");
    let table: Vec<(u16, String)> = readme
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
        "README's error table differs from error::CODES"
    );
}

#[test]
fn the_typescript_clients_codes_are_the_list_of_codes() {
    let errors = read("clients/convex/src/errors.ts");
    let start = errors
        .find("const API_ERROR_CODES = [")
        .expect("API_ERROR_CODES in errors.ts");
    let list = &errors[start..start + errors[start..].find("] as const").unwrap()];
    let mut in_typescript: Vec<&str> = list
        .lines()
        .skip(1)
        .filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix("\","))
        .collect();
    let mut codes: Vec<&str> = CODES.iter().map(|(_, code)| *code).collect();
    in_typescript.sort_unstable();
    codes.sort_unstable();
    assert_eq!(
        in_typescript, codes,
        "errors.ts's API_ERROR_CODES differs from error::CODES"
    );
}
