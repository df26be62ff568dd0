//! The Grafana dashboard parses, is laid out, and queries only series the nodes export (read
//! from their real metric registries, so renaming a metric breaks this test).

use std::collections::BTreeSet;
use std::sync::Arc;

use llm_proxy_deploy_checks::{files, metrics};
use llm_proxy_limits::{LimitsConfig, MemoryAdmission};
use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/llm-proxy-dashboard.json";

fn exported_series() -> BTreeSet<String> {
    let mut proxy = proxy_node::metrics::Metrics::new();
    proxy.register_admission(Arc::new(MemoryAdmission::new(LimitsConfig::default())));
    let dispatcher = dispatcher_node::Metrics::new();
    dispatcher.sink("file");
    let admin = admin_node::metrics::Metrics::default();
    let mut out = metrics::series(&proxy.encode());
    out.extend(metrics::series(&dispatcher.encode().unwrap()));
    out.extend(metrics::series(&admin.encode(0)));
    out
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

#[test]
fn dashboard_queries_only_exported_series() {
    let dashboard = files::json(DASHBOARD).unwrap();
    let exported = exported_series();
    assert!(
        exported.contains("llm_proxy_requests_total"),
        "{exported:?}"
    );
    let mut used = BTreeSet::new();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in metrics::metric_names(expr, &["llm_proxy_", "admin_"]) {
                assert!(
                    exported.contains(&name),
                    "panel {:?} queries {name}, which no node exports; exported: {exported:?}",
                    panel["title"]
                );
                used.insert(name);
            }
        }
    }
    for want in [
        "llm_proxy_requests_total",
        "llm_proxy_gateway_overhead_seconds_bucket",
        "llm_proxy_upstream_errors_total",
        "llm_proxy_admission_refusals_total",
        "llm_proxy_dispatcher_events_lag",
        "llm_proxy_dispatcher_dlq_length",
    ] {
        assert!(used.contains(want), "the dashboard shows {want}");
    }
}

#[test]
fn dashboard_is_well_formed() {
    let dashboard = files::json(DASHBOARD).unwrap();
    assert_eq!(dashboard["uid"], "llm-proxy");
    let variable = &dashboard["templating"]["list"][0];
    assert_eq!(variable["type"], "datasource");
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{}",
            panel["title"]
        );
    }
    for panel in panels(&dashboard) {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let refs: BTreeSet<&str> = panel["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), panel["targets"].as_array().unwrap().len());
    }
}
