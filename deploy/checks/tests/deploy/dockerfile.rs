//! deploy/Dockerfile parses, copies only what exists and is in the build context, and builds a
//! non-root image of the `llm-proxy` binary whose settings the binary accepts.

use std::collections::BTreeMap;

use llm_proxy_deploy_checks::dockerfile::{self, Instruction};
use llm_proxy_deploy_checks::dockerignore::DockerIgnore;
use llm_proxy_deploy_checks::files;

use crate::support::{assert_known_names, load};

fn instructions() -> Vec<Instruction> {
    dockerfile::parse(&files::read("deploy/Dockerfile").unwrap()).unwrap()
}

/// The instructions of the last stage.
fn final_stage(all: &[Instruction]) -> &[Instruction] {
    let last_from = all.iter().rposition(|i| i.keyword == "FROM").unwrap();
    &all[last_from..]
}

fn workspace_members() -> Vec<String> {
    let manifest = files::read("Cargo.toml").unwrap();
    let start = manifest.find("members = [").unwrap();
    let end = start + manifest[start..].find(']').unwrap();
    manifest[start..end]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Files the release build reads: manifests, sources, migrations.
fn build_inputs() -> Vec<String> {
    let mut out = vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned()];
    let mut dirs: Vec<String> = workspace_members();
    dirs.push("migrations".to_owned());
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(files::path(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if ["target", "node_modules", "data"].contains(&file.as_str()) {
                continue;
            }
            let rel = format!("{dir}/{file}");
            if entry.path().is_dir() {
                dirs.push(rel);
            } else if rel.ends_with(".rs")
                || rel.ends_with(".toml")
                || rel.ends_with(".sql")
                || rel.contains("/src/")
            {
                out.push(rel);
            }
        }
    }
    out
}

#[test]
fn copies_reference_existing_files_inside_the_build_context() {
    let all = instructions();
    let ignore = DockerIgnore::parse(&files::read(".dockerignore").unwrap());
    let mut stages = Vec::new();
    for ins in &all {
        match ins.keyword.as_str() {
            "FROM" => {
                let (image, name) = dockerfile::from(ins);
                assert!(!image.is_empty(), "line {}", ins.line);
                stages.push(name.unwrap_or_default());
            }
            "COPY" | "ADD" => {
                let copy = dockerfile::copy(ins).unwrap();
                if let Some(from) = &copy.from {
                    assert!(
                        stages[..stages.len() - 1].contains(from),
                        "line {}: --from={from} is not an earlier stage",
                        copy.line
                    );
                    continue;
                }
                for source in &copy.sources {
                    assert!(
                        files::path(source).exists(),
                        "line {}: {source} does not exist",
                        copy.line
                    );
                    if source != "." {
                        assert!(!ignore.excludes(source), "{source} is .dockerignored");
                    }
                }
            }
            _ => {}
        }
    }
    assert!(stages.len() >= 2, "multi-stage build");
    let excluded: Vec<String> = build_inputs()
        .into_iter()
        .filter(|f| ignore.excludes(f))
        .collect();
    assert!(
        excluded.is_empty(),
        ".dockerignore drops build inputs: {excluded:?}"
    );
    assert!(ignore.excludes("target/release/llm-proxy"));
    assert!(ignore.excludes(".git/HEAD"));
}

#[test]
fn builds_the_one_binary_the_roles_share() {
    let all = instructions();
    let build = all
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .unwrap();
    assert!(build.args.contains("--release") && build.args.contains("--locked"));
    assert!(build.args.contains("-p llm-proxy") && build.args.contains("--bin llm-proxy"));
    let manifest = files::read("llm-proxy/Cargo.toml").unwrap();
    assert!(manifest.contains("name = \"llm-proxy\""));
    assert!(files::path("llm-proxy/src/main.rs").is_file());
    let stage = final_stage(&all);
    let entry = stage.iter().find(|i| i.keyword == "ENTRYPOINT").unwrap();
    assert_eq!(entry.args, r#"["llm-proxy"]"#);
    // The roles the deployments start are subcommands (clap derives `proxy` from `Proxy(…)`).
    let cli = files::read("llm-proxy/src/cli.rs").unwrap();
    for variant in ["Up", "Proxy", "Dispatcher", "Admin", "Migrate"] {
        assert!(
            cli.contains(&format!("    {variant}(")),
            "llm-proxy has no `{}` command",
            variant.to_lowercase()
        );
    }
}

#[test]
fn runtime_stage_is_non_root_healthchecked_and_configured_with_real_settings() {
    let all = instructions();
    let stage = final_stage(&all);
    let one = |k: &str| {
        stage
            .iter()
            .rev()
            .find(|i| i.keyword == k)
            .unwrap_or_else(|| panic!("no {k} in the runtime stage"))
    };
    let user = &one("USER").args;
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().unwrap() > 0,
        "USER {user} must be a non-root uid"
    );
    let mut env = BTreeMap::new();
    for ins in stage.iter().filter(|i| i.keyword == "ENV") {
        for pair in ins.args.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    assert_known_names(
        "deploy/Dockerfile",
        &files::read("deploy/Dockerfile").unwrap(),
    );
    let settings = load(&env);
    assert_eq!(
        settings.server.host, "0.0.0.0",
        "listen beyond the container"
    );
    assert_eq!(one("EXPOSE").args, settings.server.port.to_string());
    let health = &one("HEALTHCHECK").args;
    assert!(health.contains("/healthz"), "{health}");
    assert!(health.contains("${LLM_PROXY_SERVER__PORT}"), "{health}");
    let volume = &one("VOLUME").args;
    assert!(
        volume.contains(&settings.data_dir.display().to_string()),
        "the data dir is the writable volume: {volume}"
    );
}
