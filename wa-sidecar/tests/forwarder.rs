//! The outbox forwarder's schedule: order per chat, one chat's trouble does not hold back the
//! others, a target that is down costs one request per backoff (not one per chat), and the
//! webhook is signed. Backoff runs on tokio's paused clock, so these tests take milliseconds
//! and assert exact request sequences.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wa_sidecar::forwarder::{Forwarder, Target, Verdict};
use wa_sidecar::outbox::Outbox;
use wa_sidecar::store::{DEAD_LETTER_TREE, Store};

/// What a scripted target answers for a chat.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    Accept,
    Fail(u16),
}

/// A target answering from a per-chat script (default `Accept`), recording every call.
#[derive(Clone, Default)]
struct Scripted {
    answers: Arc<Mutex<Vec<(String, Answer)>>>,
    calls: Arc<Mutex<Vec<(Instant, String, Answer)>>>,
}

impl Scripted {
    fn set(&self, chat: &str, a: Answer) {
        let mut v = self.answers.lock().unwrap();
        v.retain(|(c, _)| c != chat);
        v.push((chat.to_owned(), a));
    }
    fn set_all(&self, a: Answer) {
        self.set("*", a);
    }
    fn answer(&self, chat: &str) -> Answer {
        let v = self.answers.lock().unwrap();
        let find = |c: &str| v.iter().find(|(x, _)| x == c).map(|(_, a)| *a);
        find(chat).or_else(|| find("*")).unwrap_or(Answer::Accept)
    }
    fn calls(&self) -> Vec<(Instant, String, Answer)> {
        self.calls.lock().unwrap().clone()
    }
    /// Entries (`<chat><n>`, e.g. `a1`) accepted, in order.
    fn accepted(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|(_, _, a)| *a == Answer::Accept)
            .map(|(_, b, _)| b)
            .collect()
    }
}

impl Target for Scripted {
    async fn deliver(&self, body: &[u8]) -> Verdict {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let chat = v["remoteJid"].as_str().unwrap().to_owned();
        let label = format!("{chat}{}", v["n"]);
        let answer = self.answer(&chat);
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), label, answer));
        match answer {
            Answer::Accept => Verdict::Accepted,
            Answer::Fail(status) => wa_sidecar::forwarder::verdict(status),
        }
    }
}

fn entry(chat: &str, n: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "remoteJid": chat, "n": n })).unwrap()
}

struct Running {
    _tmp: tempfile::TempDir,
    store: Store,
    outbox: Outbox,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(target: Scripted, entries: &[(&str, u32)]) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let outbox = Outbox::open(&store).unwrap();
    for (chat, n) in entries {
        outbox.push(&entry(chat, *n)).unwrap();
    }
    let fwd = Forwarder::with_target(outbox.clone(), target).unwrap();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(fwd.run(rx));
    Running {
        _tmp: tmp,
        store,
        outbox,
        stop,
        task,
    }
}

/// Advances the paused clock in small steps until `done` holds (fails after `limit`).
async fn until(limit: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < end,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_chat_that_keeps_failing_does_not_hold_back_the_others() {
    let target = Scripted::default();
    target.set("a", Answer::Fail(500));
    let run = start(
        target.clone(),
        &[("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2)],
    );
    until(Duration::from_secs(5), || target.accepted().len() == 3).await;
    assert_eq!(
        target.accepted(),
        ["b1", "c1", "b2"],
        "{:?}",
        target.calls()
    );
    // `a2` was never tried while `a1` was failing.
    assert!(target.calls().iter().all(|(_, l, _)| l != "a2"));

    // Chat a keeps failing for a while: it is retried with growing delays, alone.
    until(Duration::from_secs(60), || {
        target.calls().iter().filter(|(_, l, _)| l == "a1").count() == 4
    })
    .await;
    let a1: Vec<Instant> = target
        .calls()
        .iter()
        .filter(|(_, l, _)| l == "a1")
        .map(|(t, _, _)| *t)
        .collect();
    let gaps: Vec<Duration> = a1.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_millis(750), "{gaps:?}");
    assert!(gaps[2] > gaps[0], "backoff does not grow: {gaps:?}");

    // New messages of other chats still go through at once while a waits.
    let before = Instant::now();
    run.outbox.push(&entry("d", 1)).unwrap();
    until(Duration::from_secs(2), || {
        target.accepted().contains(&"d1".to_owned())
    })
    .await;
    assert!(Instant::now() - before < Duration::from_millis(500));

    // Chat a recovers: its entries arrive in order.
    target.set("a", Answer::Accept);
    until(Duration::from_secs(120), || run.outbox.backlog() == 0).await;
    assert_eq!(target.accepted(), ["b1", "c1", "b2", "d1", "a1", "a2"]);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_target_that_is_down_costs_one_request_per_backoff_not_one_per_chat() {
    let target = Scripted::default();
    target.set_all(Answer::Fail(503));
    let entries: Vec<(String, u32)> = (0..50).map(|i| (format!("c{i}-"), 1)).collect();
    let refs: Vec<(&str, u32)> = entries.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    let run = start(target.clone(), &refs);

    // Delays of 1, 2, 4, 8, 16, 32 and then 60 s (each ±25 %): 7 or 8 requests in 130 s, all
    // for the oldest entry. Probing each chat would have made 50 at once.
    tokio::time::sleep(Duration::from_secs(130)).await;
    let calls = target.calls();
    assert!((7..=8).contains(&calls.len()), "{} requests", calls.len());
    assert!(calls.iter().all(|(_, l, _)| l == "c0-1"), "{calls:?}");

    // Back up: everything is delivered, oldest first.
    target.set_all(Answer::Accept);
    until(Duration::from_secs(70), || run.outbox.backlog() == 0).await;
    let want: Vec<String> = (0..50).map(|i| format!("c{i}-1")).collect();
    assert_eq!(target.accepted(), want);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn entry_failures_in_many_chats_are_treated_as_the_targets_trouble() {
    // A target answering 500 to everything (e.g. its database is gone) is not probed once per
    // chat: after a few different chats fail in a row, every chat waits.
    let target = Scripted::default();
    target.set_all(Answer::Fail(500));
    let entries: Vec<(String, u32)> = (0..40).map(|i| (format!("c{i}-"), 1)).collect();
    let refs: Vec<(&str, u32)> = entries.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    let run = start(target.clone(), &refs);
    until(Duration::from_secs(3), || !target.calls().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let calls = target.calls().len();
    assert_eq!(calls, wa_sidecar::forwarder::ESCALATE_AFTER as usize);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_wrong_secret_or_url_is_retried_not_dead_lettered() {
    let target = Scripted::default();
    target.set_all(Answer::Fail(403));
    let run = start(target.clone(), &[("a", 1), ("b", 1)]);
    until(Duration::from_secs(10), || target.calls().len() >= 3).await;
    assert_eq!(run.outbox.backlog(), 2);
    assert_eq!(run.store.dead_letter_len(), 0);
    target.set_all(Answer::Accept);
    until(Duration::from_secs(70), || run.outbox.backlog() == 0).await;
    assert_eq!(target.accepted(), ["a1", "b1"]);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_entry_is_dead_lettered_and_its_chat_goes_on() {
    let target = Scripted::default();
    target.set("a", Answer::Fail(400));
    let run = start(target.clone(), &[("a", 1), ("b", 1)]);
    until(Duration::from_secs(5), || run.outbox.backlog() == 0).await;
    assert_eq!(target.accepted(), ["b1"]);
    let dead = run.store.tree(DEAD_LETTER_TREE).unwrap();
    let dead: Vec<Vec<u8>> = dead.iter().values().map(|v| v.unwrap().to_vec()).collect();
    assert_eq!(dead, vec![entry("a", 1)]);
    // The chat is not stuck: its next entry goes through.
    target.set("a", Answer::Accept);
    run.outbox.push(&entry("a", 2)).unwrap();
    until(Duration::from_secs(5), || run.outbox.backlog() == 0).await;
    assert_eq!(target.accepted(), ["b1", "a2"]);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn entries_survive_a_restart_of_the_forwarder() {
    let target = Scripted::default();
    target.set_all(Answer::Fail(503));
    let run = start(target.clone(), &[("a", 1), ("b", 1)]);
    until(Duration::from_secs(5), || !target.calls().is_empty()).await;
    let Running {
        _tmp: tmp,
        store,
        outbox,
        stop,
        task,
    } = run;
    stop.send(true).unwrap();
    task.await.unwrap();
    drop((outbox, store));
    let store = Store::open(tmp.path()).unwrap();
    let outbox = Outbox::open(&store).unwrap();
    assert_eq!(outbox.backlog(), 2);
    target.set_all(Answer::Accept);
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(
        Forwarder::with_target(outbox.clone(), target.clone())
            .unwrap()
            .run(rx),
    );
    until(Duration::from_secs(5), || outbox.backlog() == 0).await;
    assert_eq!(target.accepted(), ["a1", "b1"]);
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// The real webhook: signed with the secret, header and timestamp the gateway checks.
#[tokio::test]
async fn the_webhook_is_signed_and_a_refusal_goes_to_dead_letter() {
    use axum::http::{HeaderMap, StatusCode};
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Default::default();
    let rec = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let rec = rec.clone();
            async move {
                let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
                let now = (wa_sidecar::driver::now_ms() / 1000) as i64;
                let signed = shared::signature::verify(
                    b"k",
                    &h(shared::TIMESTAMP_HEADER),
                    &h(shared::SIGNATURE_HEADER),
                    &body,
                    now,
                );
                if signed.is_err() || h(shared::SECRET_HEADER) != "k" {
                    return StatusCode::FORBIDDEN;
                }
                if body.windows(3).any(|w| w == b"bad") {
                    return StatusCode::BAD_REQUEST;
                }
                rec.lock().unwrap().push(body.to_vec());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let ob = Outbox::open(&store).unwrap();
    let bodies = [
        br#"{"remoteJid":"1@s.whatsapp.net","n":1}"#.to_vec(),
        br#"{"remoteJid":"1@s.whatsapp.net","n":"bad"}"#.to_vec(),
        br#"{"remoteJid":"1@s.whatsapp.net","n":3}"#.to_vec(),
    ];
    for b in &bodies {
        ob.push(b).unwrap();
    }
    let secret = wa_sidecar::config::Secret::new("k");
    let fwd = Forwarder::new(ob.clone(), format!("http://{addr}/hook"), secret).unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(fwd.run(stop));
    let deadline = Instant::now() + Duration::from_secs(20);
    while ob.backlog() > 0 {
        assert!(Instant::now() < deadline, "outbox never drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![bodies[0].clone(), bodies[2].clone()]
    );
    let dead = store.tree(DEAD_LETTER_TREE).unwrap();
    let dead: Vec<_> = dead.iter().values().map(|v| v.unwrap().to_vec()).collect();
    assert_eq!(dead, vec![bodies[1].clone()]);
}
