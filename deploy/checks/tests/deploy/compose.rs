//! docker-compose.yml parses, names only files, volumes and services that exist, and gives every
//! llm-proxy container an environment the real settings loader accepts.

use std::collections::BTreeMap;

use llm_proxy_deploy_checks::{compose::interpolate, files};
use serde_json::Value;

use crate::support::{assert_known_names, load};

const ROLES: &[&str] = &["migrate", "admin", "proxy", "dispatcher"];

fn compose() -> Value {
    files::yaml("docker-compose.yml").unwrap()
}

/// A path as compose resolves it with no variables set (so defaults apply).
fn resolve(text: &str) -> String {
    interpolate(text, &BTreeMap::new()).unwrap()
}

fn env_file(path: &str) -> BTreeMap<String, String> {
    let text = files::read(path).unwrap();
    assert_known_names(path, &text);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{path}: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        _ => Vec::new(),
    }
}

fn seconds(duration: &str) -> u64 {
    duration.strip_suffix('s').unwrap().parse().unwrap()
}

#[test]
fn services_reference_what_exists() {
    let doc = compose();
    let services = doc["services"].as_object().unwrap();
    let volumes = doc["volumes"].as_object().unwrap();
    for want in [
        "postgres",
        "redis",
        "migrate",
        "admin",
        "proxy-1",
        "proxy-2",
        "dispatcher",
        "nginx",
    ] {
        let svc = &services[want];
        assert!(svc.is_object(), "service {want}");
        assert!(svc.get("profiles").is_none(), "{want} starts by default");
    }
    for want in ["loki", "grafana", "prometheus"] {
        assert_eq!(
            list(&services[want]["profiles"]),
            ["observability"],
            "{want}"
        );
    }
    for (name, svc) in services {
        assert!(
            svc["image"].is_string() || svc["build"].is_object(),
            "{name}: image or build"
        );
        if let Some(image) = svc["image"].as_str() {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            assert!(
                !tag.is_empty() && tag != "latest",
                "{name}: pin {image} to a tag"
            );
        }
        if let Some(build) = svc.get("build") {
            let context = build["context"].as_str().unwrap();
            assert!(
                files::path(context).is_dir(),
                "{name}: build context {context}"
            );
            let dockerfile = format!("{context}/{}", build["dockerfile"].as_str().unwrap());
            assert!(files::path(&dockerfile).is_file(), "{name}: {dockerfile}");
        }
        for file in list(&svc["env_file"]) {
            let file = resolve(&file);
            assert!(files::path(&file).is_file(), "{name}: env_file {file}");
            env_file(&file);
        }
        for mount in list(&svc["volumes"]) {
            let source = resolve(mount.split(':').next().unwrap());
            if source.starts_with('.') || source.starts_with('/') {
                assert!(files::path(&source).exists(), "{name}: bind mount {source}");
            } else {
                assert!(
                    volumes.contains_key(&source),
                    "{name}: volume {source} is not declared"
                );
            }
        }
        let deps: Vec<String> = match &svc["depends_on"] {
            Value::Object(m) => m.keys().cloned().collect(),
            other => list(other),
        };
        for dep in deps {
            assert!(
                services.contains_key(&dep),
                "{name}: depends on unknown {dep}"
            );
            let condition = &svc["depends_on"][&dep]["condition"];
            if let Some(c) = condition.as_str() {
                assert!(
                    [
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully"
                    ]
                    .contains(&c),
                    "{name}: {c}"
                );
            }
        }
    }
    assert_known_names(
        "docker-compose.yml",
        &files::read("docker-compose.yml").unwrap(),
    );
}

#[test]
fn gateway_containers_get_settings_the_binary_accepts() {
    let doc = compose();
    let drain = llm_proxy_platform::Settings::default()
        .server
        .shutdown_timeout_secs;
    let mut seen = Vec::new();
    for (name, svc) in doc["services"].as_object().unwrap() {
        let Some(command) = svc["command"].as_array() else {
            continue;
        };
        let role = command[0].as_str().unwrap_or_default();
        if !ROLES.contains(&role) || svc["image"] != "llm-proxy:local" {
            continue;
        }
        seen.push(role.to_owned());
        // The image sets these (deploy/Dockerfile ENV).
        let mut env: BTreeMap<String, String> = [
            ("LLM_PROXY_SERVER__HOST", "0.0.0.0"),
            ("LLM_PROXY_SERVER__PORT", "8080"),
            ("LLM_PROXY_DATA_DIR", "/var/lib/llm-proxy"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        for file in list(&svc["env_file"]) {
            env.extend(env_file(&resolve(&file)));
        }
        for (k, v) in svc["environment"].as_object().into_iter().flatten() {
            env.insert(k.clone(), resolve(v.as_str().unwrap()));
        }
        let settings = load(&env);
        assert!(
            settings.database.url.expose().starts_with("postgres://"),
            "{name}"
        );
        assert!(settings.redis.url.is_some(), "{name}");
        assert_eq!(svc["read_only"], true, "{name}");
        if role != "migrate" {
            let grace = seconds(svc["stop_grace_period"].as_str().unwrap());
            assert!(
                grace > settings.server.shutdown_timeout_secs && grace > drain,
                "{name}: stop_grace_period {grace}s must exceed the drain"
            );
        }
        if role == "dispatcher" {
            assert!(
                settings.sinks.file.enabled,
                "{name}: the file sink writes to the volume"
            );
            let dir = settings.sinks.file.dir.clone().unwrap();
            let mounted = list(&svc["volumes"])
                .iter()
                .any(|m| m.ends_with(&format!(":{}", dir.display())));
            assert!(mounted, "{name}: {} is a volume", dir.display());
        }
    }
    seen.sort();
    assert_eq!(seen, ["admin", "dispatcher", "migrate", "proxy", "proxy"]);
}

#[test]
fn nginx_and_prometheus_point_at_compose_services() {
    let doc = compose();
    let services = doc["services"].as_object().unwrap();
    let nginx = files::read("deploy/compose/nginx.conf").unwrap();
    for upstream in ["proxy-1:8080", "proxy-2:8080", "admin:8080"] {
        assert!(
            nginx.contains(&format!("server {upstream}")),
            "nginx → {upstream}"
        );
        assert!(services.contains_key(upstream.split(':').next().unwrap()));
    }
    assert!(
        nginx.contains("proxy_buffering off"),
        "streams pass unbuffered"
    );
    assert!(nginx.contains("location /manage") && nginx.contains("location /admin"));
    let ports = list(&services["nginx"]["ports"]);
    assert_eq!(resolve(&ports[0]), "8080:8080");
    let prometheus = files::yaml("deploy/compose/prometheus.yml").unwrap();
    for job in prometheus["scrape_configs"].as_array().unwrap() {
        for group in job["static_configs"].as_array().unwrap() {
            for target in list(&group["targets"]) {
                let host = target.split(':').next().unwrap();
                assert!(
                    services.contains_key(host),
                    "prometheus scrapes unknown {host}"
                );
            }
        }
    }
}
