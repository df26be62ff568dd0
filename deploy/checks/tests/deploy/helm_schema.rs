//! values.schema.json accepts the shipped values and rejects wrong ones, as Helm would.

use llm_proxy_deploy_checks::files;
use serde_json::{json, Value};

use crate::support::{chart, production_overrides};

fn validator() -> jsonschema::Validator {
    let schema = files::json("helm/llm-proxy/values.schema.json").unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn errors(values: &Value) -> Vec<String> {
    validator()
        .iter_errors(values)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn schema_accepts_the_defaults_and_the_production_example() {
    let chart = chart();
    assert_eq!(errors(&chart.values(&[])), Vec::<String>::new());
    assert_eq!(
        errors(&chart.values(&[production_overrides()])),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(&chart.values(&[crate::support::variant_overrides()])),
        Vec::<String>::new()
    );
}

#[test]
fn schema_rejects_wrong_values() {
    let chart = chart();
    let wrong = [
        json!({"proxy": {"replicaCount": "two"}}),
        json!({"proxy": {"replicas": 2}}),
        json!({"port": 70000}),
        json!({"securityContext": {"readOnlyRootFilesystem": false}}),
        json!({"podSecurityContext": {"runAsNonRoot": false}}),
        json!({"config": {"env": {"SERVER_PORT": "1"}}}),
        json!({"config": {"env": {"LLM_PROXY_EVENTS__STREAM_MAXLEN": 5000000}}}),
        json!({"secrets": {"create": true, "values": {"redisUrl": "redis://r"}}}),
        json!({"image": {"pullPolicy": "Sometimes"}}),
    ];
    for over in wrong {
        let values = chart.values(std::slice::from_ref(&over));
        assert!(!errors(&values).is_empty(), "schema accepted {over}");
    }
}
