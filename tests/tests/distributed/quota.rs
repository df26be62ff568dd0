//! A lifetime quota holds exactly across nodes under concurrency.

use std::time::Duration;

use futures_util::future::join_all;
use llm_proxy_e2e::{metrics, wait, Fleet, FleetOptions, Tally, TokenLimits};

const ADMITTED: &str = r#"llm_proxy_requests_total{provider="openai",status_class="2xx"}"#;
const REFUSED: &str = r#"llm_proxy_requests_total{provider="openai",status_class="4xx"}"#;

#[actix_web::test]
async fn max_requests_is_exact_across_three_nodes_under_400_concurrent_requests() {
    let fleet = Fleet::start(FleetOptions::default()).await;
    let project = fleet.manage().project().await;
    let token = fleet
        .manage()
        .token(
            &project,
            TokenLimits {
                max_requests: Some(100),
                rate_limit_rpm: None,
            },
        )
        .await;

    let lb = fleet.lb_url();
    let replies = join_all((0..400).map(|_| fleet.chat(&lb, &token.secret))).await;
    let tally = Tally::of(&replies);

    assert_eq!(tally.count("200 -"), 100, "admitted: {tally}");
    assert_eq!(tally.count("429 quota_exceeded"), 300, "refused: {tally}");
    assert_eq!(
        fleet.upstream().request_count(),
        100,
        "only admitted requests reach the upstream"
    );
    let mut per_node = Vec::new();
    let mut handled = Vec::new();
    for url in fleet.node_urls() {
        let text = metrics::scrape(fleet.client(), &url).await;
        let admitted = metrics::value(&text, ADMITTED) as usize;
        per_node.push(admitted);
        handled.push(admitted + metrics::value(&text, REFUSED) as usize);
    }
    // Which node wins the last admissions is a race, so only the spread of all answers is fixed.
    assert!(
        handled.iter().all(|&n| n > 0),
        "nginx spread the load over every node: {handled:?}"
    );
    assert_eq!(handled.iter().sum::<usize>(), 400, "{handled:?}");
    assert_eq!(per_node.iter().sum::<usize>(), 100, "{per_node:?}");

    // Counted in Redis, written back to Postgres in batches off the request path.
    let manage = fleet.manage();
    let written_back = wait::until(Duration::from_secs(5), || async {
        let token = manage.get_token(&token.id).await;
        (token["request_count"] == 100 && !token["last_used_at"].is_null()).then_some(())
    })
    .await;
    assert!(
        written_back.is_some(),
        "request_count not written back: {}",
        manage.get_token(&token.id).await
    );
    fleet.stop().await;
}
