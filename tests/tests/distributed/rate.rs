//! A per-token request rate holds exactly across nodes.

use futures_util::future::join_all;
use llm_proxy_e2e::{Fleet, FleetOptions, Tally, TokenLimits};

#[actix_web::test]
async fn rate_limit_rpm_admits_exactly_60_in_a_minute_across_three_nodes() {
    let fleet = Fleet::start(FleetOptions::default()).await;
    let project = fleet.manage().project().await;
    let token = fleet
        .manage()
        .token(
            &project,
            TokenLimits {
                max_requests: None,
                rate_limit_rpm: Some(60),
            },
        )
        .await;

    let lb = fleet.lb_url();
    let mut replies = Vec::new();
    // Three waves of 50 keep many requests in flight at once, well inside one minute.
    for _ in 0..3 {
        replies.extend(join_all((0..50).map(|_| fleet.chat(&lb, &token.secret))).await);
    }
    let tally = Tally::of(&replies);

    assert_eq!(tally.count("200 -"), 60, "admitted: {tally}");
    assert_eq!(
        tally.count("429 rate_limit_exceeded"),
        90,
        "refused: {tally}"
    );
    for reply in replies.iter().filter(|r| r.status == 429) {
        let retry_after: u64 = reply
            .header("retry-after")
            .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", reply.headers))
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(reply.header("x-ratelimit-limit"), Some("60"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    }
    fleet.stop().await;
}
