//! A proxy node killed with SIGKILL mid-stream: its stream breaks, nothing else does.

use futures_util::future::join_all;
use futures_util::StreamExt;
use llm_proxy_e2e::client::{self, Reply};
use llm_proxy_e2e::{Fleet, FleetOptions, Tally, TokenLimits};

#[actix_web::test]
async fn sigkill_of_one_proxy_mid_stream_leaves_the_others_serving_through_nginx() {
    let mut fleet = Fleet::start(FleetOptions::default()).await;
    let project = fleet.manage().project().await;
    let token = fleet.manage().token(&project, TokenLimits::default()).await;
    let secret = token.secret.as_str();

    // 40 chunks 50 ms apart: about two seconds, so the kill lands mid-stream.
    let mut victim =
        client::open_stream(fleet.client(), &fleet.pinned_url(0), secret, 40, 50).await;
    let others: Vec<String> = (1..fleet.proxy_count())
        .map(|i| fleet.pinned_url(i))
        .collect();
    let survivors = join_all(
        others
            .iter()
            .map(|url| client::open_stream(fleet.client(), url, secret, 10, 50)),
    )
    .await;
    let first = victim.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tok0"));

    fleet.kill_proxy(0);

    let rest = Reply::read(victim).await;
    assert!(
        !rest.text().contains("[DONE]"),
        "the killed node's stream cannot have finished: {}",
        rest.outcome()
    );
    for reply in join_all(survivors.into_iter().map(Reply::read)).await {
        assert!(
            reply.is_upstream_success() && reply.text().trim_end().ends_with("data: [DONE]"),
            "a stream on a surviving node broke: {}",
            reply.outcome()
        );
    }

    let lb = fleet.lb_url();
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.extend(join_all((0..20).map(|_| fleet.chat(&lb, secret))).await);
    }
    let tally = Tally::of(&replies);
    assert_eq!(
        tally.count("200 -"),
        60,
        "through nginx after the kill: {tally}"
    );
    let streams =
        join_all((0..6).map(|_| client::open_stream(fleet.client(), &lb, secret, 3, 10))).await;
    for reply in join_all(streams.into_iter().map(Reply::read)).await {
        assert!(
            reply.text().trim_end().ends_with("data: [DONE]"),
            "{}",
            reply.outcome()
        );
    }
    for url in fleet.node_urls().iter().skip(1).chain([&fleet.admin_url()]) {
        let ready = fleet
            .client()
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            ready.status().as_u16(),
            200,
            "{url} not ready after the kill"
        );
    }
    fleet.stop().await;
}
