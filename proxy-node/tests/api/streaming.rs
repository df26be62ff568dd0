//! Streams pass through as they arrive, are never cut by a total-time limit, stop on an idle
//! upstream, and a client that goes away cancels the upstream request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::helpers::{eventually, spawn_app, spawn_app_with, TestApp};

#[actix_web::test]
async fn first_chunk_reaches_the_client_before_the_upstream_sends_the_last() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let mut response = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-hold-last", "1"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    assert_eq!(response.status().as_u16(), 200);

    // The upstream is holding its last chunk: anything we read now was streamed, not buffered.
    let first = tokio::time::timeout(Duration::from_secs(5), response.next())
        .await
        .unwrap_or_else(|_| panic!("no chunk arrived while the upstream held its last one"));
    let first = match first {
        Some(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        other => panic!("unexpected first read: {other:?}"),
    };
    assert!(first.contains("tok0"), "{first}");
    assert_eq!(app.upstream.streams_completed(), 0);

    app.upstream.release();
    let mut text = first;
    while let Some(chunk) = response.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("stream broke: {e}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    app.stop().await;
}

#[actix_web::test]
async fn a_stream_longer_than_35_seconds_is_not_cut() {
    if std::env::var("LLM_PROXY_SLOW_TESTS").as_deref() != Ok("1") {
        eprintln!("skipping the 40 s stream test; set LLM_PROXY_SLOW_TESTS=1 to run it");
        return;
    }
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let client = awc::Client::builder().disable_timeout().finish();
    let started = Instant::now();
    // 5 tokens + finish + usage + [DONE] = 8 chunks, 7 gaps of 5.5 s = 38.5 s.
    let mut response = client
        .post(app.url("/v1/chat/completions"))
        .insert_header(("authorization", seeded.bearer()))
        .insert_header(("x-fake-chunks", "5"))
        .insert_header(("x-fake-interval-ms", "5500"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut text = String::new();
    while let Some(chunk) = response.next().await {
        let chunk =
            chunk.unwrap_or_else(|e| panic!("stream cut after {:?}: {e}", started.elapsed()));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let elapsed = started.elapsed();
    assert!(elapsed > Duration::from_secs(35), "{elapsed:?}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    app.stop().await;
}

#[actix_web::test]
async fn an_idle_upstream_stream_is_ended_by_the_idle_timeout() {
    let app = spawn_app_with(|settings, _| {
        if let Some(openai) = settings.providers.get_mut("openai") {
            openai.idle_timeout_ms = 300;
        }
    })
    .await;
    let seeded = app.seed().await;
    let mut response = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-stall-after", "2"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut text = String::new();
    while let Some(Ok(chunk)) = response.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("tok1"));
    assert!(!text.contains("[DONE]"));
    // The client learns the stream broke: an error event in the provider's format.
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.starts_with("data: {\"error\""), "{text}");
    assert!(last.contains("upstream_timeout"), "{last}");
    let events = app.events(1).await;
    assert_eq!(events[0]["termination"], "timeout", "{}", events[0]);
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_goes_away_cancels_the_upstream_request() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let mut response = app
        .chat(&seeded.bearer())
        .insert_header(("x-fake-chunks", "100"))
        .insert_header(("x-fake-interval-ms", "100"))
        .send_json(&TestApp::chat_body(true))
        .await
        .unwrap_or_else(|e| panic!("send: {e}"));
    let first = response.next().await;
    assert!(matches!(first, Some(Ok(_))));
    drop(response);

    let upstream = &app.upstream;
    eventually("the upstream stream is cancelled", || {
        upstream.streams_cancelled() == 1
    })
    .await;
    assert_eq!(upstream.streams_completed(), 0);
    let events = app.events(1).await;
    assert_eq!(events[0]["termination"], "client_cancel", "{}", events[0]);
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_gives_up_before_the_answer_cancels_the_upstream_request() {
    let app = spawn_app().await;
    let seeded = app.seed().await;
    let impatient = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();
    let result = impatient
        .post(app.url("/v1/chat/completions"))
        .insert_header(("authorization", seeded.bearer()))
        .insert_header(("x-fake-hang", "1"))
        .send_json(&TestApp::chat_body(false))
        .await;
    assert!(result.is_err(), "the fake should never answer");
    drop(impatient);

    let upstream = &app.upstream;
    eventually("the hanging upstream request is dropped", || {
        upstream.hangs_cancelled() == 1
    })
    .await;
    let events = app.events(1).await;
    assert_eq!(events[0]["termination"], "client_cancel", "{}", events[0]);
    app.stop().await;
}
