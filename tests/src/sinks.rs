//! The fake Loki, Lunary and Helicone of one test, and the environment that points a
//! dispatcher at them (with the file sink enabled too).

use llm_proxy_testkit::fake_sinks::{FakeSink, HELICONE_TEST_KEY, LUNARY_TEST_KEY};

/// `X-Scope-OrgID` the dispatcher sends and the fake Loki requires.
pub const LOKI_TENANT: &str = "e2e-tenant";

pub struct Sinks {
    pub loki: FakeSink,
    pub lunary: FakeSink,
    pub helicone: FakeSink,
}

impl Sinks {
    /// Starts the three fakes. Call inside an actix `System`.
    pub async fn start() -> Self {
        let loki = FakeSink::loki().await;
        loki.require_tenant(LOKI_TENANT);
        Self {
            loki,
            lunary: FakeSink::lunary().await,
            helicone: FakeSink::helicone().await,
        }
    }

    /// `LLM_PROXY_SINKS__*`: all four sinks enabled, the HTTP ones at the fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("FILE__ENABLED", "true".to_owned()),
            ("LOKI__ENABLED", "true".to_owned()),
            ("LOKI__URL", self.loki.url()),
            ("LOKI__TENANT", LOKI_TENANT.to_owned()),
            ("LUNARY__ENABLED", "true".to_owned()),
            ("LUNARY__URL", self.lunary.url()),
            ("LUNARY__KEY", LUNARY_TEST_KEY.to_owned()),
            ("HELICONE__ENABLED", "true".to_owned()),
            ("HELICONE__URL", self.helicone.url()),
            ("HELICONE__KEY", HELICONE_TEST_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("LLM_PROXY_SINKS__{key}"), value))
        .collect()
    }

    /// Every request a fake turned away for breaking the vendor's format, as `vendor: reason`.
    pub fn rejections(&self) -> Vec<String> {
        [
            ("loki", &self.loki),
            ("lunary", &self.lunary),
            ("helicone", &self.helicone),
        ]
        .into_iter()
        .flat_map(|(name, sink)| {
            sink.rejections()
                .into_iter()
                .map(move |r| format!("{name}: {} {}", r.status, r.reason))
        })
        .collect()
    }

    pub async fn stop(self) {
        self.loki.stop().await;
        self.lunary.stop().await;
        self.helicone.stop().await;
    }
}
