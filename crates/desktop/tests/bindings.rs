//! ui/src/lib/bindings.ts is generated from the Rust types; this fails when it is stale.
//! `PARALLAX_WRITE_BINDINGS=1 cargo test -p parallax-desktop --test bindings` rewrites it.

#[test]
fn the_typescript_bindings_match_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/bindings.ts");
    let fresh = parallax_desktop::bindings::typescript();
    if std::env::var_os("PARALLAX_WRITE_BINDINGS").is_some() {
        std::fs::write(&path, &fresh).expect("write bindings");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run PARALLAX_WRITE_BINDINGS=1 cargo test -p parallax-desktop --test bindings",
        path.display()
    );
}
