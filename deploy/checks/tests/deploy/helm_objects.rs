//! The rendered objects carry what the issue asks for: probes, security context, service links
//! off, a drain-length grace period, hook annotations on the migration Job, and settings the
//! binary reads and accepts.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{
    assert_known_names, chart, load, name, objects, of_kind, secret_placeholder, value_sets,
};

fn pod_spec(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

fn container(workload: &Value) -> &Value {
    &pod_spec(workload)["containers"][0]
}

#[test]
fn expected_kinds_are_rendered() {
    let chart = chart();
    for (label, values) in value_sets(&chart) {
        let objects = objects(&chart, &values);
        let count = |kind: &str| of_kind(&objects, kind).len();
        assert_eq!(count("Deployment"), 3, "{label}");
        assert_eq!(count("Service"), 3, "{label}");
        assert_eq!(count("PodDisruptionBudget"), 3, "{label}");
        assert_eq!(count("Job"), 1, "{label}");
        assert!(count("ConfigMap") >= 1, "{label}");
        let roles: Vec<&str> = of_kind(&objects, "Deployment")
            .iter()
            .map(|d| container(d)["args"][0].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["admin", "dispatcher", "proxy"], "{label}");
    }
    let prod = objects(&chart, &value_sets(&chart)[1].1);
    let hpas: Vec<&str> = of_kind(&prod, "HorizontalPodAutoscaler")
        .iter()
        .map(|h| h["spec"]["scaleTargetRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(hpas, ["gw-llm-proxy-proxy", "gw-llm-proxy-dispatcher"]);
    assert_eq!(of_kind(&prod, "Ingress").len(), 1);
    assert_eq!(of_kind(&prod, "ServiceMonitor").len(), 1);
    for deployment in of_kind(&prod, "Deployment") {
        let autoscaled = hpas.contains(&name(deployment));
        assert_eq!(
            deployment["spec"].get("replicas").is_none(),
            autoscaled,
            "an HPA owns replicas of {}",
            name(deployment)
        );
    }
}

#[test]
fn pods_probe_run_unprivileged_and_drain() {
    let chart = chart();
    let drain_default = llm_proxy_platform::Settings::default()
        .server
        .shutdown_timeout_secs;
    for (label, values) in value_sets(&chart) {
        let objects = objects(&chart, &values);
        let drain = values["shutdown"]["drainSeconds"].as_f64().unwrap() as u64;
        let pre_stop = values["shutdown"]["preStopSleepSeconds"].as_f64().unwrap() as u64;
        if label == "defaults" {
            assert_eq!(
                drain, drain_default,
                "chart default drain = the binary's default"
            );
        }
        let workloads = of_kind(&objects, "Deployment")
            .into_iter()
            .chain(of_kind(&objects, "Job"));
        for workload in workloads {
            let what = format!("{label}: {}", name(workload));
            let pod = pod_spec(workload);
            let c = container(workload);
            assert_eq!(pod["enableServiceLinks"], false, "{what}");
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
            assert!(
                pod["securityContext"]["runAsUser"].as_u64().unwrap() > 0,
                "{what}"
            );
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(
                sc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{what}"
            );
            let mounts: Vec<&str> = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["mountPath"].as_str().unwrap())
                .collect();
            assert!(mounts.contains(&"/tmp"), "{what}: a writable /tmp");
            assert!(
                mounts.contains(&"/var/lib/llm-proxy"),
                "{what}: a writable data dir"
            );
            assert!(c["resources"]["requests"].is_object(), "{what}: resources");
            if workload["kind"] == "Job" {
                continue;
            }
            assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{what}");
            assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{what}");
            assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http", "{what}");
            assert_eq!(c["ports"][0]["name"], "http", "{what}");
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            assert!(
                grace >= drain + pre_stop,
                "{what}: grace {grace}s < drain {drain}s + preStop {pre_stop}s"
            );
            assert_eq!(
                c["lifecycle"]["preStop"]["exec"]["command"][1],
                pre_stop.to_string(),
                "{what}"
            );
        }
    }
}

#[test]
fn migration_job_is_a_pre_install_and_pre_upgrade_hook() {
    let chart = chart();
    for (label, values) in value_sets(&chart) {
        let objects = objects(&chart, &values);
        let job = of_kind(&objects, "Job")[0];
        let annotations = &job["metadata"]["annotations"];
        assert_eq!(
            annotations["helm.sh/hook"], "pre-install,pre-upgrade",
            "{label}"
        );
        assert!(annotations["helm.sh/hook-delete-policy"]
            .as_str()
            .unwrap()
            .contains("before-hook-creation"));
        assert_eq!(
            container(job)["args"],
            serde_json::json!(["migrate"]),
            "{label}"
        );
        assert_eq!(pod_spec(job)["restartPolicy"], "Never", "{label}");
        // It runs before the release's ConfigMap and ServiceAccount exist.
        assert!(container(job).get("envFrom").is_none(), "{label}");
        assert!(pod_spec(job).get("serviceAccountName").is_none(), "{label}");
        let admin = of_kind(&objects, "Deployment")
            .into_iter()
            .find(|d| name(d).ends_with("-admin"))
            .unwrap();
        let env = container(admin)["env"].as_array().unwrap();
        assert!(
            env.iter()
                .any(|e| e["name"] == "LLM_PROXY_DATABASE__MIGRATE_ON_START"
                    && e["value"] == "false"),
            "{label}: admin leaves migrations to the Job"
        );
    }
}

/// The environment a container would see: ConfigMaps from `envFrom`, then `env` (which wins),
/// secrets replaced by placeholders, a mounted config file written to `dir`.
fn container_env(
    objects: &[Value],
    workload: &Value,
    dir: &std::path::Path,
) -> BTreeMap<String, String> {
    let config_map = |cm_name: &str| {
        of_kind(objects, "ConfigMap")
            .into_iter()
            .find(|cm| name(cm) == cm_name)
            .unwrap_or_else(|| panic!("ConfigMap {cm_name} is not rendered"))
    };
    let c = container(workload);
    let mut env = BTreeMap::new();
    for source in c["envFrom"].as_array().into_iter().flatten() {
        let cm = config_map(source["configMapRef"]["name"].as_str().unwrap());
        for (k, v) in cm["data"].as_object().into_iter().flatten() {
            env.insert(k.clone(), v.as_str().unwrap().to_owned());
        }
    }
    for entry in c["env"].as_array().unwrap() {
        let key = entry["name"].as_str().unwrap().to_owned();
        let value = match entry.get("value") {
            Some(v) => v
                .as_str()
                .unwrap_or_else(|| panic!("{key}: env values are strings"))
                .to_owned(),
            None => {
                assert!(entry["valueFrom"]["secretKeyRef"].is_object(), "{key}");
                secret_placeholder(&key)
            }
        };
        env.insert(key, value);
    }
    if let Some(path) = env.get("LLM_PROXY_CONFIG").cloned() {
        let volume = pod_spec(workload)["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["configMap"].is_object())
            .unwrap();
        let cm = config_map(volume["configMap"]["name"].as_str().unwrap());
        let file_name = path.rsplit('/').next().unwrap();
        let local = dir.join(format!("{}-{file_name}", name(workload)));
        std::fs::write(&local, cm["data"][file_name].as_str().unwrap()).unwrap();
        env.insert("LLM_PROXY_CONFIG".to_owned(), local.display().to_string());
    }
    env
}

#[test]
fn every_container_environment_loads_in_the_real_settings_loader() {
    let chart = chart();
    let dir = tempfile::tempdir().unwrap();
    for (label, values) in value_sets(&chart) {
        let objects = objects(&chart, &values);
        let workloads = of_kind(&objects, "Deployment")
            .into_iter()
            .chain(of_kind(&objects, "Job"));
        for workload in workloads {
            let what = format!("{label}: {}", name(workload));
            let env = container_env(&objects, workload, dir.path());
            assert_known_names(&what, &env.keys().cloned().collect::<Vec<_>>().join(" "));
            let settings = load(&env);
            let port = container(workload)["ports"][0]["containerPort"].as_u64();
            if let Some(port) = port {
                assert_eq!(u64::from(settings.server.port), port, "{what}");
                assert_eq!(settings.server.host, "0.0.0.0", "{what}");
                assert_eq!(
                    settings.server.shutdown_timeout_secs,
                    values["shutdown"]["drainSeconds"].as_f64().unwrap() as u64,
                    "{what}"
                );
            }
            let role = container(workload)["args"][0].as_str().unwrap();
            if role != "dispatcher" {
                assert!(
                    settings.database.url.expose().starts_with("postgres://"),
                    "{what}"
                );
            }
            if role != "migrate" {
                assert!(
                    settings.redis.url.is_some(),
                    "{what}: distributed mode needs Redis"
                );
            }
            if role == "admin" || role == "proxy" {
                assert!(settings.encryption_key.is_some(), "{what}");
            }
            if role == "admin" {
                assert!(settings.management_token.is_some(), "{what}");
            }
        }
    }
}

#[test]
fn services_ingress_and_monitor_point_at_the_named_port() {
    let chart = chart();
    let objects = objects(&chart, &value_sets(&chart)[1].1);
    for svc in of_kind(&objects, "Service") {
        assert_eq!(
            svc["spec"]["ports"][0]["targetPort"],
            "http",
            "{}",
            name(svc)
        );
    }
    let ingress = of_kind(&objects, "Ingress")[0];
    let paths: Vec<(&str, &str)> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap(),
                p["backend"]["service"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("/manage", "gw-llm-proxy-admin"),
            ("/admin", "gw-llm-proxy-admin"),
            ("/", "gw-llm-proxy-proxy")
        ]
    );
    let monitor = of_kind(&objects, "ServiceMonitor")[0];
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http");
}

/// `1Gi`, `256Mi`, `500M` → bytes.
fn quantity_bytes(q: &str) -> u64 {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * factor;
        }
    }
    q.parse().unwrap()
}

#[test]
fn proxy_data_volume_holds_the_event_spill() {
    let chart = chart();
    let dir = tempfile::tempdir().unwrap();
    for (label, values) in value_sets(&chart) {
        let objects = objects(&chart, &values);
        let proxy = of_kind(&objects, "Deployment")
            .into_iter()
            .find(|d| name(d).ends_with("-proxy"))
            .unwrap();
        let settings = load(&container_env(&objects, proxy, dir.path()));
        let data = pod_spec(proxy)["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "data")
            .unwrap();
        let limit = quantity_bytes(data["emptyDir"]["sizeLimit"].as_str().unwrap());
        assert!(
            limit > settings.events.spill_max_bytes,
            "{label}: data volume {limit} B cannot hold a full spill of {} B",
            settings.events.spill_max_bytes
        );
    }
}
