//! The housekeeping actor: every `admin.expiry_sweep_secs` marks expired tokens inactive
//! (audit `token.expire`) and publishes their control events. The work itself is
//! [`crate::ops::housekeeping::expire_tokens`], tested without an actor.

use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};

use crate::ops::housekeeping;
use crate::state::AdminState;

pub struct ExpirySweeper {
    state: AdminState,
    interval: Duration,
    running: bool,
}

impl ExpirySweeper {
    pub fn start_for(state: AdminState) -> actix::Addr<Self> {
        let interval = Duration::from_secs(state.settings.admin.expiry_sweep_secs.max(1));
        Self {
            state,
            interval,
            running: false,
        }
        .start()
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let state = self.state.clone();
        let work = async move { housekeeping::expire_tokens(&state).await };
        ctx.spawn(work.into_actor(self).map(|result, actor, _| {
            actor.running = false;
            if let Err(e) = result {
                tracing::warn!(error = %e, "token expiry sweep failed; retrying next interval");
            }
        }));
    }
}

impl Actor for ExpirySweeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sweep(ctx);
        ctx.run_interval(self.interval, |actor, ctx| actor.sweep(ctx));
    }
}
