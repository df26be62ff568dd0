//! Reading a node's Prometheus `/metrics`, to see which node did what.

/// The node's `/metrics` text.
pub async fn scrape(client: &awc::Client, base: &str) -> String {
    let mut response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}/metrics: {e}"));
    let body = response
        .body()
        .limit(8 * 1024 * 1024)
        .await
        .unwrap_or_else(|e| panic!("GET {base}/metrics body: {e}"));
    String::from_utf8_lossy(&body).into_owned()
}

/// The value of `series` (name with labels exactly as exposed), 0 when absent.
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_labelled_series() {
        let text =
            "# HELP x\nllm_proxy_requests_total{a=\"1\"} 7\nllm_proxy_requests_total{a=\"12\"} 3\n";
        assert_eq!(value(text, "llm_proxy_requests_total{a=\"1\"}"), 7.0);
        assert_eq!(value(text, "llm_proxy_requests_total{a=\"12\"}"), 3.0);
        assert_eq!(value(text, "missing"), 0.0);
    }
}
