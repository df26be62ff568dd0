//! What the checks share: the settings catalogue read from the real structs, loading an
//! environment through the real loader, and the rendered chart.

use std::collections::BTreeMap;

use llm_proxy_deploy_checks::env_names::{self, EnvCatalog};
use llm_proxy_deploy_checks::files;
use llm_proxy_deploy_checks::helm::{Chart, Release};
use llm_proxy_platform::settings::{ProviderSettings, NON_SETTINGS_ENV_VARS};
use llm_proxy_platform::{LoadOptions, Settings};
use serde_json::Value;

pub const CHART: &str = "helm/llm-proxy";
pub const PRODUCTION_VALUES: &str = "helm/llm-proxy/values-production.yaml";

/// Every `LLM_PROXY_*` name the binary reads, from `Settings::default()` serialised.
pub fn catalog() -> EnvCatalog {
    let settings = serde_json::to_value(Settings::default()).unwrap();
    let provider = serde_json::to_value(ProviderSettings::default()).unwrap();
    EnvCatalog::new(&settings, &[("providers", provider)], NON_SETTINGS_ENV_VARS)
}

/// Fails naming every `LLM_PROXY_*` word in `text` that is not a setting.
pub fn assert_known_names(source: &str, text: &str) {
    let catalog = catalog();
    let unknown: Vec<String> = env_names::mentioned(text)
        .into_iter()
        .filter(|n| !catalog.accepts(n))
        .collect();
    assert!(
        unknown.is_empty(),
        "{source} names settings the binary does not read: {unknown:?}\nknown: {:?}",
        catalog.names().collect::<Vec<_>>()
    );
}

/// A value of the right shape for a secret the deployment injects.
pub fn secret_placeholder(name: &str) -> String {
    match name {
        "LLM_PROXY_DATABASE__URL" => "postgres://llmproxy:pw@db:5432/llmproxy".to_owned(),
        "LLM_PROXY_REDIS__URL" => "redis://:pw@redis:6379".to_owned(),
        // Standard base64 of 32 bytes.
        "LLM_PROXY_ENCRYPTION_KEY" => "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        "LLM_PROXY_MANAGEMENT_TOKEN" => "0123456789abcdef0123456789abcdef".to_owned(),
        other => format!("placeholder-for-{other}"),
    }
}

/// Runs the real settings loader (with validation) over exactly `env`.
pub fn load(env: &BTreeMap<String, String>) -> Settings {
    let options = LoadOptions {
        config_file: None,
        overrides: Vec::new(),
        env: Some(env.clone().into_iter().collect()),
    };
    Settings::load(options).unwrap_or_else(|e| panic!("settings from {env:?} do not load: {e}"))
}

pub fn chart() -> Chart {
    Chart::load(&files::path(CHART)).unwrap()
}

pub fn production_overrides() -> Value {
    files::yaml(PRODUCTION_VALUES).unwrap()
}

/// The values sets every check renders with: defaults, and defaults + the production example.
pub fn value_sets(chart: &Chart) -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", chart.values(&[])),
        ("production", chart.values(&[production_overrides()])),
    ]
}

/// Renders the chart with `values` and parses every object.
pub fn objects(chart: &Chart, values: &Value) -> Vec<Value> {
    chart
        .render(values, &Release::default())
        .unwrap()
        .objects()
        .unwrap()
}

pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Values that take the chart's other branches: chart-created Secret, no ServiceAccount, no
/// migration Job, a claim for the file sink, admin off, scheduling fields, extra metrics.
pub fn variant_overrides() -> Value {
    serde_json::json!({
        "fullnameOverride": "edge",
        "imagePullSecrets": [{"name": "regcred"}],
        "secrets": {"create": true, "values": {
            "databaseUrl": "postgres://u:p@db:5432/llm", "redisUrl": "redis://redis:6379",
            "managementToken": "0123456789abcdef", "encryptionKey": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}},
        "serviceAccount": {"create": false, "name": "shared"},
        "migrations": {"enabled": false},
        "admin": {"enabled": false},
        "proxy": {
            "podAnnotations": {"example.com/team": "platform"},
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}],
            "autoscaling": {"enabled": true, "extraMetrics": [{"type": "Pods", "pods": {
                "metric": {"name": "inflight_requests"},
                "target": {"type": "AverageValue", "averageValue": "100"}}}]},
            "service": {"type": "LoadBalancer", "annotations": {"example.com/lb": "internal"}}
        },
        "dispatcher": {"persistence": {"enabled": true, "existingClaim": "llm-events"},
                       "pdb": {"enabled": false}},
        "ingress": {"enabled": true, "hosts": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
        "serviceMonitor": {"enabled": true}
    })
}
