//! The one `AdminState`: cheap to clone, registered once per scope as `web::Data<AdminState>`.

use std::sync::Arc;

use actix::Addr;
use llm_proxy_core::control::ControlEvent;
use llm_proxy_platform::{ControlBus, Settings};
use llm_proxy_store::DynStore;

use crate::actors::sweep::ExpirySweeper;
use crate::metrics::Metrics;
use crate::ui::session::SessionStore;

#[derive(Clone)]
pub struct AdminState {
    pub settings: Arc<Settings>,
    pub store: DynStore,
    pub control: ControlBus,
    pub sessions: SessionStore,
    pub metrics: Arc<Metrics>,
    sweeper: Option<Addr<ExpirySweeper>>,
}

impl AdminState {
    /// The state with its expiry sweep running (every `admin.expiry_sweep_secs`). Must be called
    /// inside an actix `System`.
    pub fn start(settings: Arc<Settings>, store: DynStore, control: ControlBus) -> AdminState {
        let mut state = Self::without_sweep(settings, store, control);
        if state.management_token().is_none() {
            tracing::warn!(
                "no management token is configured: the management API and admin UI refuse \
                 every request"
            );
        }
        state.sweeper = Some(ExpirySweeper::start_for(state.clone()));
        state
    }

    /// The state without the periodic sweep (tests that drive [`crate::ops::housekeeping`]
    /// themselves). Needs no actix `System`.
    pub fn without_sweep(settings: Arc<Settings>, store: DynStore, control: ControlBus) -> Self {
        let sessions = SessionStore::new(std::time::Duration::from_secs(
            settings.admin.session_ttl_secs.max(60),
        ));
        Self {
            settings,
            store,
            control,
            sessions,
            metrics: Arc::new(Metrics::default()),
            sweeper: None,
        }
    }

    pub fn management_token(&self) -> Option<&str> {
        self.settings
            .management_token
            .as_ref()
            .map(|t| t.expose())
            .filter(|t| !t.is_empty())
    }

    /// Publishes a control event; call only after the commit that caused it.
    pub fn publish(&self, event: ControlEvent) {
        tracing::debug!(?event, "control event");
        self.metrics.control_event();
        self.control.publish(event);
    }

    /// Whether the periodic sweep actor runs.
    pub fn sweep_running(&self) -> bool {
        self.sweeper.as_ref().is_some_and(|a| a.connected())
    }
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("store", &self.store)
            .field("control", &self.control)
            .field("sweep", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}
