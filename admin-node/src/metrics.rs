//! A few counters in the Prometheus text format, served at `/metrics` by the standalone admin.

use std::sync::atomic::{AtomicU64, Ordering};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default)]
pub struct Metrics {
    auth_failures: AtomicU64,
    sweeps: AtomicU64,
    sweep_errors: AtomicU64,
    tokens_expired: AtomicU64,
    control_events: AtomicU64,
    ui_logins: AtomicU64,
    ui_login_failures: AtomicU64,
}

impl Metrics {
    pub fn auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sweep(&self, expired: usize) {
        self.sweeps.fetch_add(1, Ordering::Relaxed);
        self.tokens_expired
            .fetch_add(expired as u64, Ordering::Relaxed);
    }

    pub fn sweep_error(&self) {
        self.sweep_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn control_event(&self) {
        self.control_events.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ui_login(&self, ok: bool) {
        let counter = if ok {
            &self.ui_logins
        } else {
            &self.ui_login_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn encode(&self, active_sessions: usize) -> String {
        let mut out = String::new();
        let counters = [
            (
                "admin_auth_failures_total",
                "Management API calls refused for a missing or wrong token.",
                &self.auth_failures,
            ),
            (
                "admin_expiry_sweeps_total",
                "Runs of the token expiry sweep.",
                &self.sweeps,
            ),
            (
                "admin_expiry_sweep_errors_total",
                "Runs of the token expiry sweep that failed.",
                &self.sweep_errors,
            ),
            (
                "admin_tokens_expired_total",
                "Tokens the sweep marked inactive.",
                &self.tokens_expired,
            ),
            (
                "admin_control_events_total",
                "Control events published after a commit.",
                &self.control_events,
            ),
            (
                "admin_ui_logins_total",
                "Successful admin UI logins.",
                &self.ui_logins,
            ),
            (
                "admin_ui_login_failures_total",
                "Refused admin UI logins.",
                &self.ui_login_failures,
            ),
        ];
        for (name, help, value) in counters {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP admin_ui_sessions Open admin UI sessions.\n# TYPE admin_ui_sessions gauge\nadmin_ui_sessions {active_sessions}\n"
        ));
        out
    }
}
