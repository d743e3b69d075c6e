//! The assembled images agree with `deploy/Dockerfile` on what matters.

use std::collections::BTreeMap;

use super::*;
use crate::image::tar::Entry;

/// What one runtime stage of the Dockerfile says.
#[derive(Debug, Default, PartialEq)]
struct Stage {
    copied_to: Vec<String>,
    user: String,
    entrypoint: Vec<String>,
}

/// The runtime stages (`FROM runtime AS <name>`) and the runtime base's labels.
fn parse_dockerfile(text: &str) -> (BTreeMap<String, Stage>, BTreeMap<String, String>) {
    // Join continuation lines first.
    let joined = text.replace("\\\n", " ");
    let (mut stages, mut labels) = (BTreeMap::new(), BTreeMap::new());
    let mut current: Option<String> = None;
    for line in joined.lines().map(str::trim) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "FROM" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                current = match parts.as_slice() {
                    ["runtime", "AS", name] => Some((*name).to_owned()),
                    [_, "AS", "runtime"] => Some("runtime".to_owned()),
                    _ => None,
                };
            }
            "LABEL" if current.as_deref() == Some("runtime") => {
                for pair in rest.split_whitespace() {
                    if let Some((k, v)) = pair.split_once('=') {
                        labels.insert(k.to_owned(), v.trim_matches('"').to_owned());
                    }
                }
            }
            "COPY" | "USER" | "ENTRYPOINT" => {
                let Some(name) = current.clone().filter(|n| n != "runtime") else {
                    continue;
                };
                let stage: &mut Stage = stages.entry(name).or_default();
                match word {
                    "COPY" => stage
                        .copied_to
                        .extend(rest.split_whitespace().last().map(str::to_owned)),
                    "USER" => stage.user = rest.trim().to_owned(),
                    _ => stage.entrypoint = serde_json::from_str(rest).unwrap_or_default(),
                }
            }
            _ => {}
        }
    }
    (stages, labels)
}

fn dockerfile() -> String {
    let path = crate::binary::workspace_root().join("deploy/Dockerfile");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_parser_reads_stages_and_labels() {
    let (stages, labels) = parse_dockerfile(
        "FROM base AS runtime\nLABEL a=\"1\" \\\n      b=\"2\"\nFROM runtime AS x\n\
         COPY --from=build /out/x /usr/local/bin/x\nUSER 1:1\nENTRYPOINT [\"/usr/local/bin/x\"]\n",
    );
    assert_eq!(labels.get("b").map(String::as_str), Some("2"));
    assert_eq!(
        stages.get("x"),
        Some(&Stage {
            copied_to: vec!["/usr/local/bin/x".into()],
            user: "1:1".into(),
            entrypoint: vec!["/usr/local/bin/x".into()],
        })
    );
}

#[test]
fn assembled_images_match_the_dockerfile() -> anyhow::Result<()> {
    let (stages, labels) = parse_dockerfile(&dockerfile());
    assert_eq!(labels, super::labels(), "the Dockerfile's labels");
    // Any dynamically linked binary serves: the test binary itself.
    let binary = std::env::current_exe()?;
    for name in BINARIES {
        let stage = stages
            .get(name)
            .unwrap_or_else(|| panic!("deploy/Dockerfile has no {name} stage"));
        let built = oci::build(&image(name, &binary, "test")?)?;
        let config = &built.config["config"];
        assert_eq!(config["User"], stage.user.as_str(), "{name}: user");
        assert_eq!(
            config["Entrypoint"],
            serde_json::json!(stage.entrypoint),
            "{name}: entrypoint"
        );
        assert_eq!(
            config["Labels"],
            serde_json::json!(labels),
            "{name}: labels"
        );
        let files: Vec<&str> = built
            .layer
            .iter()
            .filter_map(|e| match e {
                Entry::File { path, .. } => Some(path.as_str()),
                Entry::Dir { .. } => None,
            })
            .collect();
        for copied in &stage.copied_to {
            assert!(
                files.contains(&copied.trim_start_matches('/')),
                "{name}: {copied}"
            );
        }
        assert!(
            files.iter().any(|f| f.contains("libc.so")),
            "{name}: glibc is in the image: {files:?}"
        );
        assert!(
            !files
                .iter()
                .any(|f| f.ends_with("bin/sh") || f.ends_with("bin/bash")),
            "{name}: no shell"
        );
    }
    Ok(())
}
