//! Embeds the provider catalog in the crate as Rust source, after checking every entry; a bad
//! entry fails the build with a message naming it. The catalog is `providers/catalog.json`, with
//! the operator's own providers merged over it: `providers/operator.json` if it exists, or the
//! file `TENANT_KEYS_PROVIDERS_FILE` names (relative to the workspace).

#[path = "src/catalog.rs"]
mod catalog;
#[path = "src/template.rs"]
mod template;

use std::path::{Path, PathBuf};

/// The environment variable naming the operator's catalog file instead of providers/operator.json.
const OPERATOR_FILE_ENV: &str = "TENANT_KEYS_PROVIDERS_FILE";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_owned();
    // The folder, not the files: an operator file that appears later is seen too.
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("providers").display()
    );
    println!("cargo::rerun-if-env-changed={OPERATOR_FILE_ENV}");

    let mut entries = load(&workspace, "providers/catalog.json");
    let operator = match std::env::var(OPERATOR_FILE_ENV) {
        Ok(path) if !path.is_empty() => {
            println!(
                "cargo::rerun-if-changed={}",
                workspace.join(&path).display()
            );
            Some(path)
        }
        _ => {
            Some("providers/operator.json".to_owned()).filter(|path| workspace.join(path).exists())
        }
    };
    if let Some(path) = operator {
        entries = catalog::merge(entries, load(&workspace, &path));
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("providers.rs");
    std::fs::write(out, catalog::rust_source(&entries)).unwrap();
}

fn load(workspace: &Path, origin: &str) -> Vec<catalog::Entry> {
    let text = std::fs::read_to_string(workspace.join(origin))
        .unwrap_or_else(|err| fail(&format!("{origin}: cannot be read: {err}")));
    catalog::parse(origin, &text).unwrap_or_else(|err| fail(&err))
}

fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(1);
}
