//! Embeds the provider catalog (`providers/catalog.json`) in the crate as Rust source, after
//! checking every entry; a bad entry fails the build with a message naming it.

#[path = "src/catalog.rs"]
mod catalog;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let path = manifest.join("../providers/catalog.json");
    println!("cargo::rerun-if-changed={}", path.display());
    let origin = "providers/catalog.json";
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| fail(&format!("{origin}: cannot be read: {err}")));
    let entries = catalog::parse(origin, &text).unwrap_or_else(|err| fail(&err));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("providers.rs");
    std::fs::write(out, catalog::rust_source(&entries)).unwrap();
}

fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(1);
}
