//! Series names in a Prometheus/OpenMetrics exposition, and metric names in PromQL.

use std::collections::BTreeSet;

/// The sample names each `# TYPE` line promises (`_total` for counters, `_bucket`/`_sum`/
/// `_count` for histograms).
pub fn series(exposition: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        out.insert(name.to_owned());
        match kind {
            "counter" => {
                out.insert(format!("{}_total", name.trim_end_matches("_total")));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// Identifiers in a PromQL expression that start with one of `prefixes`.
pub fn metric_names(expr: &str, prefixes: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    let mut in_string = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
            word.clear();
            continue;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if prefixes.iter().any(|p| word.starts_with(p)) {
            out.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_exposition_and_promql() {
        let text = "# TYPE llm_proxy_requests counter\n# TYPE llm_proxy_d_seconds histogram\n# TYPE a_total counter\n";
        let s = series(text);
        assert!(s.contains("llm_proxy_requests_total"));
        assert!(s.contains("llm_proxy_d_seconds_bucket"));
        assert!(s.contains("a_total"));
        let names = metric_names(
            r#"sum(rate(llm_proxy_requests_total{status_class="5xx"}[5m])) by (provider)"#,
            &["llm_proxy_"],
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec!["llm_proxy_requests_total"]
        );
    }
}
