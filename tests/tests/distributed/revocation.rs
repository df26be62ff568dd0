//! Revocation reaches every node within a second while the token is busy on all of them.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use llm_proxy_e2e::client::{self, Reply};
use llm_proxy_e2e::stats::percentile;
use llm_proxy_e2e::{Fleet, FleetOptions, TestToken, TokenLimits};

const ROUNDS: usize = 20;
const BOUND: Duration = Duration::from_secs(1);
/// Polling goes on past the bound so a failure reports the real time.
const GIVE_UP: Duration = Duration::from_secs(5);

#[actix_web::test]
async fn a_revoked_token_is_refused_by_every_node_within_a_second() {
    let fleet = Fleet::start(FleetOptions::default()).await;
    let project = fleet.manage().project().await;
    let mut samples = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let token = fleet.manage().token(&project, TokenLimits::default()).await;
        let in_flight = open_streams_everywhere(&fleet, &token).await;

        fleet.manage().revoke(&token.id).await;
        let revoked_at = Instant::now();
        let per_node = join_all(
            fleet
                .node_urls()
                .iter()
                .map(|url| refused_after(&fleet, url, &token.secret, revoked_at)),
        )
        .await;
        let slowest = per_node.iter().copied().max().unwrap();
        assert!(
            slowest < BOUND,
            "round {round}: a node still admitted the revoked token after {slowest:?} \
             (per node: {per_node:?})"
        );
        samples.push(slowest);

        // Admitted before the revocation, these run to their end.
        for response in in_flight {
            let reply = Reply::read(response).await;
            assert!(reply.is_upstream_success(), "{}", reply.outcome());
        }
    }
    let p99 = percentile(&samples, 99.0).unwrap();
    let median = percentile(&samples, 50.0).unwrap();
    println!(
        "revocation p99 over {ROUNDS}: {:.1} ms (median {:.1} ms)",
        p99.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0
    );
    fleet.stop().await;
}

/// Slow streams of `token` on every node, directly and through nginx, each already admitted.
async fn open_streams_everywhere(fleet: &Fleet, token: &TestToken) -> Vec<awc::ClientResponse> {
    let lb = fleet.lb_url();
    let mut bases = fleet.node_urls();
    bases.extend(std::iter::repeat_n(lb, fleet.proxy_count()));
    join_all(
        bases
            .iter()
            .map(|base| client::open_stream(fleet.client(), base, &token.secret, 4, 50)),
    )
    .await
}

/// Time from `since` until `base` answers `token` with 401 `token_inactive`.
async fn refused_after(fleet: &Fleet, base: &str, secret: &str, since: Instant) -> Duration {
    loop {
        let reply = fleet.chat(base, secret).await;
        let elapsed = since.elapsed();
        match (reply.status, reply.code().as_deref()) {
            (401, Some("token_inactive")) => return elapsed,
            (200, _) if elapsed < GIVE_UP => continue,
            (200, _) => return elapsed,
            _ => panic!("{base} answered the revoked token with {}", reply.outcome()),
        }
    }
}
