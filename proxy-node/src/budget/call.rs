//! [`BudgetCall`]: the reservation one admitted call holds, shared by the exchange (which
//! settles it when the call is recorded) and the stream meter (which grows it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use llm_proxy_core::budget::{DisconnectPolicy, Spend};
use llm_proxy_core::event::Usage;
use llm_proxy_core::usage_cost::{ModelPrice, TokenCounts};
use llm_proxy_limits::{DynAdmission, Reservation};

#[derive(Clone)]
pub struct BudgetCall {
    admission: DynAdmission,
    /// `None` once settled: a call settles exactly once, whichever copy gets there first.
    reservation: Arc<Mutex<Option<Reservation>>>,
    price: Option<ModelPrice>,
    /// Output tokens a stream asks for each time it outgrows its reservation.
    pub step: u64,
    pub on_disconnect: DisconnectPolicy,
    /// The meter ended the stream at the budget.
    cut: Arc<AtomicBool>,
}

impl std::fmt::Debug for BudgetCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetCall")
            .field("reservation", &*self.lock())
            .field("on_disconnect", &self.on_disconnect)
            .field("cut", &self.was_cut())
            .finish_non_exhaustive()
    }
}

impl BudgetCall {
    pub fn new(
        admission: DynAdmission,
        reservation: Reservation,
        price: Option<ModelPrice>,
        step: u64,
        on_disconnect: DisconnectPolicy,
    ) -> Self {
        Self {
            admission,
            reservation: Arc::new(Mutex::new(Some(reservation))),
            price,
            step: step.max(1),
            on_disconnect,
            cut: Arc::new(AtomicBool::new(false)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Reservation>> {
        self.reservation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The prompt estimate and the output tokens held so far (0 once settled).
    pub fn held(&self) -> (u64, u64) {
        self.lock().as_ref().map_or((0, 0), |r| {
            (
                r.reserved.tokens.saturating_sub(r.output_tokens),
                r.output_tokens,
            )
        })
    }

    pub fn mark_cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    pub fn was_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    /// Asks for at least `need` (up to `need + step`) more output tokens. False when the
    /// budget has no room (or cannot be reached): the stream must end.
    pub async fn extend(&self, need: u64) -> bool {
        let Some(mut reservation) = self.lock().clone() else {
            return false;
        };
        let granted = self
            .admission
            .extend(&mut reservation, need.max(1), need.max(1) + self.step)
            .await;
        match granted {
            Ok(Some(_)) => {
                let mut held = self.lock();
                if held.is_some() {
                    *held = Some(reservation);
                    return true;
                }
                // Settled meanwhile (the client went away): give the extension back.
                drop(held);
                self.spawn_settle(reservation, Spend::default());
                false
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot extend a budget reservation: ending the stream");
                false
            }
        }
    }

    /// What the usage costs at the model's price (0 without one).
    pub fn spend_of(&self, usage: &Usage) -> Spend {
        let counts = TokenCounts {
            prompt: usage.prompt_tokens.unwrap_or(0),
            completion: usage.completion_tokens.unwrap_or(0),
            cached: usage.cached_tokens.unwrap_or(0),
        };
        let cost = self.price.as_ref().map_or(0, |p| p.cost(counts));
        Spend::new(counts.prompt.saturating_add(counts.completion), cost)
    }

    /// Ends the reservation with what the call used: the usage when the upstream answered
    /// (reported or counted), nothing when it did not (or the answer came from the cache).
    /// Runs off the request path; only the first call does anything.
    pub fn settle(&self, used: Option<&Usage>) {
        let Some(reservation) = self.lock().take() else {
            return;
        };
        let actual = used.map(|u| self.spend_of(u)).unwrap_or_default();
        self.spawn_settle(reservation, actual);
    }

    /// Settles at once when that completes without waiting (in memory), else on the runtime
    /// (Redis).
    fn spawn_settle(&self, reservation: Reservation, actual: Spend) {
        let admission = Arc::clone(&self.admission);
        let mut settling = Box::pin(async move {
            if let Err(e) = admission.settle(&reservation, actual).await {
                tracing::warn!(
                    error = %e,
                    project_id = %reservation.project_id,
                    token_id = %reservation.token_id,
                    "cannot settle a budget reservation: it stays counted in full"
                );
            }
        });
        if settling.as_mut().now_or_never().is_some() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(settling);
            }
            Err(_) => tracing::warn!("no runtime to settle a budget reservation on"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use llm_proxy_limits::{
        AdmissionRequest, BudgetAsk, BudgetLimit, LimitsConfig, MemoryAdmission,
    };
    use uuid::Uuid;

    use super::*;

    fn limit() -> BudgetLimit {
        BudgetLimit {
            period: "life".into(),
            resets_at: None,
            max_tokens: Some(1000),
            max_cost_nano_usd: None,
            spent: Spend::default(),
        }
    }

    async fn admitted(admission: &DynAdmission, project_id: Uuid) -> Reservation {
        let req = AdmissionRequest {
            token_id: Uuid::new_v4(),
            project_id,
            max_requests: None,
            used: 0,
            token_rpm: None,
            project_rpm: None,
            budget: Some(BudgetAsk {
                project: Some(limit()),
                prompt_tokens: 100,
                min_output: 1,
                max_output: 100,
                ..BudgetAsk::default()
            }),
        };
        admission.admit(&req).await.unwrap().reservation.unwrap()
    }

    #[tokio::test]
    async fn settles_once_and_extends_until_refused() {
        let admission: DynAdmission = Arc::new(MemoryAdmission::new(LimitsConfig::default()));
        let project = Uuid::new_v4();
        let call = BudgetCall::new(
            Arc::clone(&admission),
            admitted(&admission, project).await,
            None,
            300,
            DisconnectPolicy::Cancel,
        );
        assert_eq!(call.held(), (100, 100));
        assert!(call.extend(10).await);
        assert_eq!(call.held(), (100, 410));
        assert!(call.extend(10).await);
        assert_eq!(call.held(), (100, 720));
        assert!(call.extend(10).await);
        assert_eq!(call.held(), (100, 900), "the rest of the budget");
        assert!(!call.extend(1).await);

        let copy = call.clone();
        call.settle(Some(&Usage {
            prompt_tokens: Some(100),
            completion_tokens: Some(200),
            ..Usage::default()
        }));
        copy.settle(None);
        assert_eq!(copy.held(), (0, 0));
        // 300 used of 1000: a new call may reserve 100 + up to 600.
        let next = admitted(&admission, project).await;
        assert_eq!(next.output_tokens, 100);
    }
}
