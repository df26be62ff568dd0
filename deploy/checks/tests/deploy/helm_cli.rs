//! Where a `helm` binary exists (`HELM_BIN`, or `helm` on PATH), `helm lint` passes and
//! `helm template` renders exactly the objects the built-in renderer does, which keeps that
//! renderer honest. CI machines without Helm print a notice and rely on the renderer.

use std::path::PathBuf;
use std::process::Command;

use llm_proxy_deploy_checks::{files, helm::Release};
use serde_json::Value;

use crate::support::{chart, production_overrides, variant_overrides, CHART, PRODUCTION_VALUES};

fn helm() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HELM_BIN") {
        return Some(PathBuf::from(bin));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
}

fn run(helm: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(helm)
        .args(args)
        .current_dir(files::root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn sorted(mut docs: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = docs.drain(..).map(|d| d.to_string()).collect();
    out.sort();
    out
}

#[test]
fn helm_lints_and_renders_what_the_builtin_renderer_renders() {
    let Some(helm) = helm() else {
        println!(
            "SKIPPED: no helm binary (set HELM_BIN or put helm on PATH); `helm lint` and the \
             comparison with real Helm did not run. The built-in renderer checks still ran."
        );
        return;
    };
    let version = run(&helm, &["version", "--short"]);
    println!("using {} {}", helm.display(), version.trim());
    let chart = chart();
    let dir = tempfile::tempdir().unwrap();
    let variants_file = dir.path().join("variants.yaml");
    std::fs::write(&variants_file, variant_overrides().to_string()).unwrap();
    let variants = variants_file.to_str().unwrap();
    let cases: [(&[&str], Value); 3] = [
        (&[], chart.values(&[])),
        (
            &["-f", PRODUCTION_VALUES],
            chart.values(&[production_overrides()]),
        ),
        (&["-f", variants], chart.values(&[variant_overrides()])),
    ];
    for (extra, values) in cases {
        let mut lint = vec!["lint", "--strict", CHART];
        lint.extend_from_slice(extra);
        run(&helm, &lint);
        let mut template = vec!["template", "gw", CHART, "--namespace", "llm"];
        template.extend_from_slice(extra);
        let real = files::yaml_documents("helm template", &run(&helm, &template)).unwrap();
        let ours = chart
            .render(&values, &Release::default())
            .unwrap()
            .objects()
            .unwrap();
        let (real, ours) = (sorted(real), sorted(ours));
        for (a, b) in real.iter().zip(&ours) {
            assert_eq!(a, b, "helm and the built-in renderer differ ({extra:?})");
        }
        assert_eq!(real.len(), ours.len(), "object counts differ ({extra:?})");
    }
}
