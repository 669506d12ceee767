//! The list of operations is `Operation::ALL`; everything else that names the functions one by one
//! is checked against it here, so a new operation that misses a place fails this test with the
//! place's name. The places (each a file a new operation touches):
//! - `Cargo.toml` (a workspace member `functions/<name>`) and `functions/<name>/` (package, binary
//!   and a main that runs `Operation::<Variant>`);
//! - `template.yaml` (a function building binary `<name>`, an HTTP API route `/<name>`, a role and
//!   a log group of its own, which the IAM and operations tests judge);
//! - `tests/harness.rs` (`FUNCTIONS`), `bench/run.py` (`FUNCTIONS`), `tests/arm64_round_trip.py`,
//!   `scripts/check-template`, `scripts/dev`, `events/generate`, the CLI (`cli/src/main.rs`),
//!   `tests/sam_local.rs` (its events) and `shared/tests/iam_policy.rs` (`FUNCTIONS`, and the
//!   flows whose calls it records).

use std::path::Path;

use serde_yaml::Value as Yaml;
use tenant_keys::Operation;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// `fetch-key` → `FetchKey`.
fn pascal(name: &str) -> String {
    name.split('-')
        .map(|word| word[..1].to_ascii_uppercase() + &word[1..])
        .collect()
}

/// Fails naming every operation `text` (the file `place`) does not mention as `mention(name)`.
fn each_in(place: &str, text: &str, mention: impl Fn(&str) -> String) {
    let missing: Vec<&str> = Operation::ALL
        .iter()
        .map(|operation| operation.name())
        .filter(|name| !text.contains(&mention(name)))
        .collect();
    assert!(missing.is_empty(), "{place} does not name {missing:?}");
}

/// The bracketed list assigned after `marker` in `text` (`marker … = [ … ]`).
fn list_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text.find(marker).unwrap_or_else(|| panic!("no {marker}"));
    let assigned = start + text[start..].find('=').unwrap();
    let open = assigned + text[assigned..].find('[').unwrap();
    let close = open + text[open..].find(']').unwrap();
    &text[open..=close]
}

#[test]
fn every_operation_is_a_workspace_package_with_a_one_line_main() {
    each_in("Cargo.toml", &read("Cargo.toml"), |name| {
        format!("\"functions/{name}\"")
    });
    for operation in Operation::ALL {
        let name = operation.name();
        let manifest = read(&format!("functions/{name}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name}/Cargo.toml"
        );
        let main = read(&format!("functions/{name}/src/main.rs"));
        assert!(
            main.contains(&format!(
                "tenant_keys::run(tenant_keys::Operation::{})",
                pascal(name)
            )),
            "functions/{name}/src/main.rs does not run Operation::{}",
            pascal(name)
        );
    }
}

#[test]
fn every_operation_is_a_function_of_the_template_with_its_route() {
    let template: Yaml = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let functions: Vec<(&str, &Yaml)> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"] == "AWS::Serverless::Function")
        .map(|(id, resource)| (id.as_str().unwrap(), resource))
        .collect();
    assert_eq!(
        functions.len(),
        Operation::ALL.len(),
        "one function per operation"
    );
    for operation in Operation::ALL {
        let name = operation.name();
        let id = format!("{}Function", pascal(name));
        let (_, function) = functions
            .iter()
            .find(|(logical_id, _)| *logical_id == id)
            .unwrap_or_else(|| panic!("template.yaml has no {id}"));
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"],
            Yaml::from(name),
            "{id} builds another binary"
        );
        let route = &function["Properties"]["Events"]["Post"]["Properties"];
        assert_eq!(
            route["Path"],
            Yaml::from(format!("/{name}")),
            "{id}'s route"
        );
        assert_eq!(
            route["Method"],
            Yaml::from("ANY"),
            "{id} answers 405 itself"
        );
    }
}

#[test]
fn every_operation_is_known_to_the_tests_scripts_and_cli() {
    let quoted = |name: &str| format!("\"{name}\"");
    each_in(
        "tests/harness.rs (FUNCTIONS)",
        list_after(&read("tests/harness.rs"), "pub const FUNCTIONS"),
        quoted,
    );
    each_in(
        "bench/run.py (FUNCTIONS)",
        list_after(&read("bench/run.py"), "FUNCTIONS = "),
        quoted,
    );
    each_in(
        "tests/arm64_round_trip.py",
        &read("tests/arm64_round_trip.py"),
        |name| format!("\"{name}\": \"{}Function\"", pascal(name)),
    );
    each_in(
        "scripts/check-template",
        &read("scripts/check-template"),
        |name| format!("{}Function", pascal(name)),
    );
    each_in("scripts/dev", &read("scripts/dev"), |name| {
        format!("$base/{name}")
    });
    each_in("events/generate", &read("events/generate"), |name| {
        format!("$out/{name}.json")
    });
    each_in("cli/src/main.rs", &read("cli/src/main.rs"), |name| {
        format!("function: \"{name}\"")
    });
    // Each function's role judged by the IAM engine, with the calls its flows make.
    each_in(
        "shared/tests/iam_policy.rs (FUNCTIONS)",
        list_after(&read("shared/tests/iam_policy.rs"), "const FUNCTIONS"),
        |name| format!("\"{}Function\"", pascal(name)),
    );
    // Each event through `sam local invoke` by the function's logical id.
    let sam_local: String = read("tests/sam_local.rs").split_whitespace().collect();
    each_in("tests/sam_local.rs", &sam_local, |name| {
        format!("(\"{name}\",\"{}Function\"", pascal(name))
    });
}
