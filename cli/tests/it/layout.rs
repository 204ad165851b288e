//! The folder layout is the architecture: dependencies between Brook's crates point one way
//! (`client` depends only on `broker`, `streams` never depends on `sql`, and so on). This reads each crate's manifest and fails if
//! a crate depends on one it must not.

use std::path::Path;

/// Brook crates a manifest's `[dependencies]` names.
fn brook_dependencies(krate: &str) -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some(name) = line.split(['.', '=', ' ']).next()
            && name.starts_with("brook-")
        {
            deps.push(name.to_string());
        }
    }
    deps
}

#[test]
fn crate_dependencies_point_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("broker", &[]),
        // Where topics live: the embedded broker or a remote cluster; nothing above it.
        ("client", &["brook-broker"]),
        ("streams", &["brook-broker", "brook-client"]),
        ("sql", &["brook-broker", "brook-client", "brook-streams"]),
        ("connect", &["brook-broker", "brook-client", "brook-streams"]),
        ("examples", &["brook-broker", "brook-client", "brook-streams", "brook-sql", "brook-connect"]),
        ("cli", &["brook-broker", "brook-client", "brook-streams", "brook-sql", "brook-connect"]),
    ];
    for (krate, ok) in allowed {
        for dep in brook_dependencies(krate) {
            assert!(ok.contains(&dep.as_str()), "{krate} must not depend on {dep}");
        }
    }
    assert!(brook_dependencies("streams").contains(&"brook-broker".to_string()), "the manifest parser works");
    // Connectors, tools and examples reach topics through the client, not a cluster of their own.
    for krate in ["connect", "cli", "examples"] {
        assert!(
            brook_dependencies(krate).contains(&"brook-client".to_string()),
            "{krate} must use brook-client"
        );
    }
}
