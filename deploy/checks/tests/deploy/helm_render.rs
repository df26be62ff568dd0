//! Every template renders with the default values and with the production example, and what
//! it renders is Kubernetes YAML.

use llm_proxy_deploy_checks::helm::Release;

use crate::support::{chart, value_sets};

#[test]
fn every_template_renders_to_kubernetes_objects() {
    let chart = chart();
    for (label, values) in value_sets(&chart) {
        for release in [
            Release::default(),
            Release {
                is_upgrade: true,
                ..Release::default()
            },
        ] {
            let rendered = chart
                .render(&values, &release)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            for object in rendered
                .objects()
                .unwrap_or_else(|e| panic!("{label}: {e}"))
            {
                for field in ["apiVersion", "kind"] {
                    assert!(object[field].is_string(), "{label}: no {field} in {object}");
                }
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                assert!(
                    !name.is_empty() && name.len() <= 63,
                    "{label}: bad name {name:?}"
                );
                assert_eq!(object["metadata"]["namespace"], "llm", "{label}: {name}");
            }
            assert!(
                rendered.notes.contains("port-forward") || rendered.notes.contains("https://"),
                "{label}: NOTES.txt says how to reach the gateway:\n{}",
                rendered.notes
            );
        }
    }
}

#[test]
fn long_release_names_still_give_valid_object_names() {
    let chart = chart();
    let values = chart.values(&[]);
    let release = Release {
        name: "a-very-long-release-name-that-goes-on-and-on-and-on-x".to_owned(),
        ..Release::default()
    };
    for object in chart.render(&values, &release).unwrap().objects().unwrap() {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 63, "{name} is longer than 63");
        assert!(!name.contains("--"), "{name}");
    }
}

#[test]
fn chart_created_secret_is_a_hook_and_needs_every_value() {
    let chart = chart();
    let dev = serde_json::json!({"secrets": {"create": true, "values": {
        "databaseUrl": "postgres://u:p@db/llm", "redisUrl": "redis://r:6379",
        "managementToken": "0123456789abcdef", "encryptionKey": "k"}}});
    let objects = crate::support::objects(&chart, &chart.values(&[dev]));
    let secret = objects.iter().find(|o| o["kind"] == "Secret").unwrap();
    assert_eq!(
        secret["metadata"]["annotations"]["helm.sh/hook"],
        "pre-install,pre-upgrade"
    );
    assert_eq!(secret["data"].as_object().unwrap().len(), 4);
    let partial = serde_json::json!({"secrets": {"create": true, "values": {"redisUrl": "x"}}});
    let err = chart
        .render(&chart.values(&[partial]), &Release::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("secrets.values.databaseUrl"), "{err}");
}

#[test]
fn other_branches_render_too() {
    let chart = chart();
    let values = chart.values(&[crate::support::variant_overrides()]);
    let objects = crate::support::objects(&chart, &values);
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.contains(&"Job") && !kinds.contains(&"ServiceAccount"),
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 2);
    let dispatcher = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "edge-dispatcher" && o["kind"] == "Deployment")
        .unwrap();
    let volumes = dispatcher["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("llm-events"), "{volumes}");
    let ingress = objects.iter().find(|o| o["kind"] == "Ingress").unwrap();
    assert_eq!(ingress["spec"]["rules"].as_array().unwrap().len(), 2);
    let proxy_hpa = objects
        .iter()
        .find(|o| o["kind"] == "HorizontalPodAutoscaler")
        .unwrap();
    assert_eq!(proxy_hpa["spec"]["metrics"].as_array().unwrap().len(), 2);
}
