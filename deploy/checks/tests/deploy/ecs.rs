//! deploy/ecs: task definitions, services, target groups and scaling parse, agree with each
//! other, and name the ports, health paths and settings the binary has.

use std::collections::BTreeMap;

use llm_proxy_deploy_checks::files;
use serde_json::Value;

use crate::support::{assert_known_names, load, secret_placeholder};

const ROLES: &[&str] = &["proxy", "dispatcher", "admin", "migrate"];
/// Fargate's ceiling for `stopTimeout`.
const FARGATE_MAX_STOP_TIMEOUT: u64 = 120;

fn ecs(name: &str) -> Value {
    files::json(&format!("deploy/ecs/{name}")).unwrap()
}

fn container(task: &Value) -> &Value {
    &task["containerDefinitions"][0]
}

/// Every node crate serves `path` (the literal appears in its routes).
fn nodes_serve(path: &str) -> bool {
    let literal = format!("\"{path}\"");
    [
        "proxy-node/src/routes/mod.rs",
        "admin-node/src/routes/mod.rs",
        "dispatcher-node/src/routes.rs",
    ]
    .iter()
    .all(|f| files::read(f).is_ok_and(|text| text.contains(&literal)))
}

fn task_env(task: &Value) -> BTreeMap<String, String> {
    let c = container(task);
    let mut env = BTreeMap::new();
    for e in c["environment"].as_array().unwrap() {
        env.insert(
            e["name"].as_str().unwrap().to_owned(),
            e["value"].as_str().unwrap().to_owned(),
        );
    }
    for s in c["secrets"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let from = s["valueFrom"].as_str().unwrap();
        assert!(
            from.starts_with("${SECRET_ARN}:")
                || from.starts_with("arn:aws:secretsmanager:")
                || from.starts_with("arn:aws:ssm:"),
            "{name}: secrets come from Secrets Manager or SSM, not {from}"
        );
        env.insert(name.to_owned(), secret_placeholder(name));
    }
    env
}

#[test]
fn every_file_parses() {
    let dir = files::path("deploy/ecs");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            ecs(&name);
            count += 1;
        }
    }
    assert!(count >= 8, "task, service and target-group files");
    assert!(files::path("deploy/ecs/README.md").is_file(), "a guide");
}

#[test]
fn task_definitions_run_each_role_hardened_with_real_settings() {
    let drain_default = llm_proxy_platform::Settings::default()
        .server
        .shutdown_timeout_secs;
    assert!(nodes_serve("/healthz") && nodes_serve("/readyz") && nodes_serve("/metrics"));
    for role in ROLES {
        let file = format!("task-{role}.json");
        let task = ecs(&file);
        assert_eq!(task["family"], format!("llm-proxy-{role}"), "{file}");
        assert_eq!(task["requiresCompatibilities"][0], "FARGATE", "{file}");
        assert_eq!(task["networkMode"], "awsvpc", "{file}");
        let c = container(&task);
        assert_eq!(c["command"][0], *role, "{file}");
        assert_eq!(c["readonlyRootFilesystem"], true, "{file}");
        let uid: u32 = c["user"]
            .as_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(uid > 0, "{file}: non-root");
        assert_eq!(
            c["linuxParameters"]["capabilities"]["drop"][0], "ALL",
            "{file}"
        );
        let volumes: Vec<&str> = task["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        let mounts: Vec<(&str, &str)> = c["mountPoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["sourceVolume"].as_str().unwrap(),
                    m["containerPath"].as_str().unwrap(),
                )
            })
            .collect();
        for (volume, _) in &mounts {
            assert!(
                volumes.contains(volume),
                "{file}: volume {volume} not declared"
            );
        }
        assert_known_names(&file, &files::read(&format!("deploy/ecs/{file}")).unwrap());
        let settings = load(&task_env(&task));
        let data_dir = settings.data_dir.display().to_string();
        assert!(
            mounts.iter().any(|(_, p)| *p == "/tmp"),
            "{file}: writable /tmp"
        );
        assert!(
            mounts.iter().any(|(_, p)| *p == data_dir),
            "{file}: writable data dir"
        );
        let stop = c["stopTimeout"].as_u64().unwrap();
        assert!(stop <= FARGATE_MAX_STOP_TIMEOUT, "{file}");
        if *role == "migrate" {
            assert!(c.get("portMappings").is_none(), "{file}");
            continue;
        }
        assert!(
            stop > settings.server.shutdown_timeout_secs && stop > drain_default,
            "{file}: stopTimeout {stop}s must exceed the drain"
        );
        assert_eq!(
            c["portMappings"][0]["containerPort"].as_u64(),
            Some(u64::from(settings.server.port)),
            "{file}"
        );
        assert_eq!(settings.server.host, "0.0.0.0", "{file}");
        let health = c["healthCheck"]["command"][1].as_str().unwrap();
        assert!(
            health.contains(&format!("127.0.0.1:{}/healthz", settings.server.port)),
            "{file}: {health}"
        );
        assert!(settings.redis.url.is_some(), "{file}: distributed mode");
        if *role == "admin" {
            assert!(settings.management_token.is_some() && settings.encryption_key.is_some());
            assert!(
                !settings.database.migrate_on_start,
                "{file}: the migrate task migrates"
            );
        }
        if *role == "proxy" {
            assert!(settings.encryption_key.is_some(), "{file}");
            let max = ecs("scalable-target-proxy.json")["MaxCapacity"]
                .as_u64()
                .unwrap();
            assert_eq!(
                u64::from(settings.redis.degraded_node_count),
                max,
                "{file}: degraded share assumes the most tasks there can be"
            );
        }
    }
}

#[test]
fn services_and_target_groups_agree_with_the_tasks() {
    let attributes = ecs("target-group-attributes.json");
    let delay = attributes
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
        .unwrap();
    assert!(delay["Value"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    for role in ["proxy", "dispatcher", "admin"] {
        let service = ecs(&format!("service-{role}.json"));
        let task = ecs(&format!("task-{role}.json"));
        assert_eq!(service["taskDefinition"], task["family"], "{role}");
        assert_eq!(service["launchType"], "FARGATE", "{role}");
        assert_eq!(
            service["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"],
            true
        );
        let lbs = service["loadBalancers"].as_array();
        if role == "dispatcher" {
            assert!(lbs.is_none(), "dispatchers take no traffic");
            continue;
        }
        let lb = &lbs.unwrap()[0];
        let c = container(&task);
        assert_eq!(lb["containerName"], c["name"], "{role}");
        assert_eq!(
            lb["containerPort"], c["portMappings"][0]["containerPort"],
            "{role}"
        );
        let tg = ecs(&format!("target-group-{role}.json"));
        assert_eq!(tg["HealthCheckPath"], "/readyz", "{role}");
        assert_eq!(tg["Port"], c["portMappings"][0]["containerPort"], "{role}");
        assert_eq!(tg["TargetType"], "ip", "awsvpc tasks register by IP");
    }
    let rule = ecs("listener-rule-admin.json");
    let paths = rule["Conditions"][0]["PathPatternConfig"]["Values"].to_string();
    assert!(
        paths.contains("/manage") && paths.contains("/admin"),
        "{paths}"
    );
}
