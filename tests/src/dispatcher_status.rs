//! The JSON `llm-proxy dispatcher status --json` prints: per sink the dispatcher's counters
//! (delivered, failed, retried, …) next to what Redis knows (pending, lag, DLQ length).

use serde_json::Value;

use crate::role_process::llm_proxy;

#[derive(Debug, Clone)]
pub struct Status(pub Value);

impl Status {
    /// Runs `llm-proxy dispatcher status --json` with `env` (`LLM_PROXY_*`). Without a running
    /// dispatcher at `server.port` only the Redis numbers are there.
    pub async fn query(env: &[(String, String)]) -> Self {
        let mut command =
            tokio::process::Command::from(llm_proxy(&["dispatcher", "status", "--json"], env));
        let output = command
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run `llm-proxy dispatcher status`: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "`llm-proxy dispatcher status --json` failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Self::parse(&stdout)
    }

    pub fn parse(text: &str) -> Self {
        Self(
            serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("status is not JSON ({e}): {text}")),
        )
    }

    /// The entry of `name` in `sinks`.
    pub fn sink(&self, name: &str) -> &Value {
        self.0["sinks"]
            .as_array()
            .and_then(|sinks| sinks.iter().find(|s| s["sink"] == name))
            .unwrap_or_else(|| panic!("status has no sink {name}: {}", self.0))
    }

    /// A number of `name`'s entry (`pending`, `lag`, `retried`, `dlq_length`, …); 0 when null.
    pub fn number(&self, sink: &str, field: &str) -> u64 {
        self.sink(sink)[field].as_u64().unwrap_or(0)
    }

    /// Entries in the event streams (every shard).
    pub fn stream_length(&self) -> u64 {
        self.0["streams"]
            .as_array()
            .map_or(0, |s| s.iter().filter_map(|s| s["length"].as_u64()).sum())
    }

    /// Every enabled sink has read and acknowledged every entry.
    pub fn settled(&self) -> bool {
        self.0["sinks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["enabled"] == true)
            .all(|s| s["group_exists"] == true && s["pending"] == 0 && s["lag"] == 0)
    }

    /// Whether the counters of a running dispatcher could be read.
    pub fn has_counters(&self) -> bool {
        self.0["counters_error"].is_null()
    }

    /// `sink: pending P, lag L, delivered D, failed F, retried R, dlq Q` for each sink.
    pub fn summary(&self) -> String {
        let fields = [
            "pending",
            "lag",
            "delivered",
            "failed",
            "retried",
            "dlq_length",
        ];
        self.0["sinks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["enabled"] == true)
            .map(|s| {
                let parts: Vec<String> = fields.iter().map(|f| format!("{f} {}", s[*f])).collect();
                format!(
                    "{}: {}",
                    s["sink"].as_str().unwrap_or("?"),
                    parts.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
