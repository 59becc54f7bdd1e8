//! The lists that grow with a team's history, a page at a time: `/api/v1/rollouts` (with its
//! filters), a rollout's decisions, the releases, and the dashboard's home page. In process,
//! as tests/api.rs: the router over a temporary workspace, called with `oneshot`.

// Outside a #[test] function too (helpers, fixtures), a test's unwrap() is an assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use shiploop_rollout::Phase;
use shiploop_testkit::TempWorkspace;

/// `web` begun (progressing, created at t(0)), then six more rollouts recorded straight in the
/// store with web's plan, created a second apart: r1 completed, r2 progressing, r3 rolled
/// back, r4 paused, r5 completed, r6 progressing. They have no contract.
async fn seven_rollouts() -> (TempWorkspace, String) {
    let (ws, id) = workspace();
    let opened = ws.open();
    let _c = begun(&opened).await;
    let mut st = shiploop_controller::open_store(&opened).unwrap();
    let row = st.rollout(&id).unwrap().unwrap();
    let phases = [
        Phase::Completed,
        Phase::Progressing,
        Phase::RolledBack {
            reason: "errors".into(),
        },
        Phase::Paused {
            reason: "looking".into(),
        },
        Phase::Completed,
        Phase::Progressing,
    ];
    for (i, phase) in phases.into_iter().enumerate() {
        let mut state = row.state.clone();
        state.phase = phase;
        let n = i as i64 + 1;
        st.create_rollout(&format!("r{n}"), &row.plan, &state, t(n))
            .unwrap();
    }
    (ws, id)
}

fn releases(r: &Reply) -> Vec<String> {
    r.json["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["release"].as_str().unwrap().to_string())
        .collect()
}

/// Follows `next` from `first` to the end; every page's rows, and the pages' count.
async fn walk(app: &axum::Router, first: &str) -> (Vec<String>, usize) {
    let (mut all, mut pages) = (vec![], 0);
    let mut uri = first.to_string();
    loop {
        let r = call(app, "GET", &uri, Some(VIEWER), "").await;
        assert_eq!(r.status, 200, "{uri}: {}", r.json);
        pages += 1;
        all.extend(releases(&r));
        let Some(next) = r.json["next"].as_str() else {
            assert_eq!(r.link, None, "the last page links nowhere: {uri}");
            break;
        };
        // The Link header is the same page as the cursor in the body.
        let link = r.link.clone().unwrap();
        assert!(
            link.starts_with("</api/v1/rollouts?") && link.ends_with(">; rel=\"next\""),
            "{link}"
        );
        assert!(link.contains(&format!("cursor={next}")), "{link}");
        uri = link[1..link.len() - ">; rel=\"next\"".len()].to_string();
        assert!(pages < 20, "{uri}");
    }
    (all, pages)
}

#[tokio::test]
async fn the_rollouts_come_a_page_at_a_time_each_exactly_once() {
    let (ws, id) = seven_rollouts().await;
    let app = app(&ws);
    let every: Vec<String> = std::iter::once(id.clone())
        .chain((1..=6).map(|n| format!("r{n}")))
        .collect();
    // All of them fit in the default page: no next.
    let r = call(&app, "GET", "/api/v1/rollouts", Some(VIEWER), "").await;
    assert_eq!(releases(&r), every, "oldest first");
    assert_eq!(r.json.get("next"), None, "{}", r.json);
    assert_eq!(r.link, None);
    // Three a page: 3 + 3 + 1.
    let (all, pages) = walk(&app, "/api/v1/rollouts?limit=3").await;
    assert_eq!(all, every);
    assert_eq!(pages, 3);
    // A page that ends exactly at the last row has no next.
    let (all, pages) = walk(&app, "/api/v1/rollouts?limit=7").await;
    assert_eq!((all.len(), pages), (7, 1));
    // A rollout recorded while a client walks is found at the end, none seen twice.
    let r = call(&app, "GET", "/api/v1/rollouts?limit=4", Some(VIEWER), "").await;
    let next = r.json["next"].as_str().unwrap().to_string();
    {
        let opened = ws.open();
        let mut st = shiploop_controller::open_store(&opened).unwrap();
        let row = st.rollout(&id).unwrap().unwrap();
        st.create_rollout("r7", &row.plan, &row.state, t(7))
            .unwrap();
    }
    let rest = call(
        &app,
        "GET",
        &format!("/api/v1/rollouts?limit=4&cursor={next}"),
        Some(VIEWER),
        "",
    )
    .await;
    assert_eq!(releases(&rest), ["r4", "r5", "r6", "r7"]);
    // Each row keeps its fields.
    let first = &r.json["rollouts"][0];
    for field in ["release", "phase", "stage", "weight", "stages", "driven_by"] {
        assert!(first.get(field).is_some(), "{field}: {first}");
    }
}

#[tokio::test]
async fn filters_keep_the_rollouts_a_platform_team_asks_for() {
    let (ws, id) = seven_rollouts().await;
    let app = app(&ws);
    let get = |uri: &'static str| {
        let app = app.clone();
        async move {
            let r = call(&app, "GET", uri, Some(VIEWER), "").await;
            assert_eq!(r.status, 200, "{uri}: {}", r.json);
            releases(&r)
        }
    };
    assert_eq!(
        get("/api/v1/rollouts?phase=active").await,
        [id.as_str(), "r2", "r4", "r6"]
    );
    assert_eq!(
        get("/api/v1/rollouts?phase=terminal").await,
        ["r1", "r3", "r5"]
    );
    assert_eq!(get("/api/v1/rollouts?phase=completed").await, ["r1", "r5"]);
    assert_eq!(get("/api/v1/rollouts?phase=paused").await, ["r4"]);
    // A filtered walk sees every match once.
    let (all, pages) = walk(&app, "/api/v1/rollouts?phase=active&limit=1").await;
    assert_eq!(all, [id.as_str(), "r2", "r4", "r6"]);
    assert!(pages >= 4, "{pages}");
    // The service is the contract's: web's is the workspace's; the others have no contract to
    // say, and are kept (nobody can tell, and they may carry traffic).
    let service = ws.open().config.service.name.clone();
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/rollouts?service={service}"),
        Some(VIEWER),
        "",
    )
    .await;
    assert_eq!(releases(&r).len(), 7, "{}", r.json);
    let others = get("/api/v1/rollouts?service=another-service").await;
    assert!(!others.contains(&id), "{others:?}");
    assert_eq!(others.len(), 6);
    assert_eq!(
        get("/api/v1/rollouts?service=another-service&phase=completed").await,
        ["r1", "r5"]
    );
}

#[tokio::test]
async fn a_bad_limit_cursor_or_phase_is_a_400_naming_it() {
    let (ws, _) = seven_rollouts().await;
    let app = app(&ws);
    for (uri, names) in [
        ("/api/v1/rollouts?limit=0", "limit:"),
        ("/api/v1/rollouts?limit=1001", "limit:"),
        ("/api/v1/rollouts?limit=ten", "limit:"),
        ("/api/v1/rollouts?cursor=no-such-rollout", "cursor:"),
        ("/api/v1/rollouts?phase=done", "phase:"),
        ("/api/v1/rollouts/web/decisions?cursor=x", "cursor:"),
        ("/api/v1/rollouts/web/decisions?limit=5000", "limit:"),
        ("/api/v1/releases?cursor=..%2Fx", "cursor:"),
        ("/api/v1/releases?limit=-1", "limit:"),
    ] {
        let r = call(&app, "GET", uri, Some(VIEWER), "").await;
        assert_problem(&r, 400);
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.starts_with(names), "{uri}: {detail}");
    }
    // The largest page is allowed.
    let r = call(&app, "GET", "/api/v1/rollouts?limit=1000", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_rollouts_decisions_and_the_releases_come_a_page_at_a_time() {
    let (ws, id) = workspace();
    let app = app(&ws);
    let opened = ws.open();
    let mut c = begun(&opened).await;
    // Start, pause, resume, pause: four decisions, whatever a hold records.
    for (s, action, body) in [
        (1, "pause", r#"{"reason":"a look"}"#),
        (2, "resume", "{}"),
        (3, "pause", r#"{"reason":"another look"}"#),
    ] {
        let uri = format!("/api/v1/rollouts/web/{action}");
        let r = call(&app, "POST", &uri, Some(OPERATOR), body).await;
        assert_eq!(r.status, 202, "{}", r.json);
        c.tick(t(s), &mut |_| {}).await.unwrap();
    }
    let all = call(
        &app,
        "GET",
        "/api/v1/rollouts/web/decisions",
        Some(VIEWER),
        "",
    )
    .await;
    let every: Vec<Value> = all.json["decisions"].as_array().unwrap().clone();
    assert!(every.len() >= 4, "{}", all.json);
    assert_eq!(all.json.get("next"), None);
    let mut seen = vec![];
    let mut uri = "/api/v1/rollouts/web/decisions?limit=2".to_string();
    loop {
        let r = call(&app, "GET", &uri, Some(VIEWER), "").await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["release"], id.as_str());
        seen.extend(r.json["decisions"].as_array().unwrap().iter().cloned());
        match r.json["next"].as_str() {
            Some(next) => {
                let link = r.link.unwrap();
                assert!(
                    link.starts_with(&format!(
                        "</api/v1/rollouts/{id}/decisions?limit=2&cursor={next}>"
                    )),
                    "{link}"
                );
                uri = format!("/api/v1/rollouts/web/decisions?limit=2&cursor={next}");
            }
            None => break,
        }
    }
    assert_eq!(seen, every);

    // Releases: by id, a page at a time; the next one's contract read only on its page.
    ws.verdict("v2", "PASS", "Faster search");
    opened
        .release_new("zz-api", &Default::default(), t(0))
        .unwrap();
    let r = call(&app, "GET", "/api/v1/releases?limit=1", Some(VIEWER), "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["releases"][0]["id"], id.as_str());
    let next = r.json["next"].as_str().unwrap();
    assert_eq!(next, id.as_str());
    assert_eq!(
        r.link.as_deref(),
        Some(format!("</api/v1/releases?limit=1&cursor={id}>; rel=\"next\"").as_str())
    );
    let r = call(
        &app,
        "GET",
        &format!("/api/v1/releases?limit=1&cursor={next}"),
        Some(VIEWER),
        "",
    )
    .await;
    assert_eq!(r.json["releases"][0]["name"], "zz-api", "{}", r.json);
    assert_eq!(r.json.get("next"), None, "{}", r.json);
    assert_eq!(r.json["unreadable"], serde_json::json!([]));
}

/// `n` more contracts beside web's: copies of it under other ids (same day, `web-NN`).
fn more_contracts(ws: &TempWorkspace, id: &str, n: usize) {
    let text = ws.read(&format!("work/releases/{id}.md"));
    for i in 0..n {
        let other = format!("{id}-{i:02}");
        ws.write(
            &format!("work/releases/{other}.md"),
            &text
                .replacen(&format!("id: {id}"), &format!("id: {other}"), 1)
                .replacen("name: web", &format!("name: web-{i:02}"), 1),
        );
    }
}

#[tokio::test]
async fn the_dashboard_home_shows_counts_the_rollouts_in_flight_and_a_page_of_releases() {
    let (ws, id) = seven_rollouts().await;
    more_contracts(&ws, &id, 55);
    // One waits for an approval: listed from STATUS.md, confirmed from its contract.
    ws.verdict("v2", "PASS", "Faster search");
    let opened = ws.open();
    opened
        .release_new("api", &Default::default(), t(0))
        .unwrap();
    opened.submit("api", "agent@example.com", t(0)).unwrap();
    let app = app(&ws);
    let home = call(&app, "GET", "/", Some(VIEWER), "").await;
    assert_eq!(home.status, 200, "{}", home.body);
    let body = &home.body;
    // The counts by phase, each once, without a row per rollout.
    for want in [
        "progressing</span> <b>3</b>",
        "completed</span> <b>2</b>",
        "rolled-back</span> <b>1</b>",
        "paused</span> <b>1</b>",
    ] {
        assert!(body.contains(want), "{want}: {body}");
    }
    // In flight first: web and the unfinished ones, before the releases.
    let in_flight = body.find("In flight").unwrap();
    let releases = body.find("<h1>Releases</h1>").unwrap();
    assert!(in_flight < releases);
    for r in [
        "href=\"/releases/r2\"",
        "href=\"/releases/r4\"",
        "href=\"/releases/r6\"",
    ] {
        let at = body.find(r).unwrap_or_else(|| panic!("{r}: {body}"));
        assert!(at < releases, "{r}");
    }
    assert!(
        !body[..releases].contains("href=\"/releases/r1\""),
        "{body}"
    );
    let pending = &body[body.find("Pending approvals").unwrap()..];
    assert!(
        pending.contains("2026-11-27-api</a> — submitted by agent@example.com"),
        "{pending}"
    );
    // 57 releases: the 50 newest, newest first, and a link to the older ones.
    let rows = body[releases..]
        .matches("<tr><td><a href=\"/releases/")
        .count();
    assert_eq!(rows, 50, "{body}");
    let newest = body[releases..]
        .find(&format!("/releases/{id}-54\""))
        .unwrap();
    let older_row = body[releases..]
        .find(&format!("/releases/{id}-05\""))
        .unwrap();
    assert!(newest < older_row);
    assert!(!body[releases..].contains(&format!("/releases/{id}-04\"")));
    let older = format!("href=\"/?older={id}-05\"");
    assert!(body.contains(&older), "{body}");
    assert!(
        !body.contains("?newer="),
        "the newest page has nothing newer"
    );
    // The next page: the 7 oldest (api's is the oldest id), and a link back.
    let page2 = call(&app, "GET", &format!("/?older={id}-05"), Some(VIEWER), "").await;
    assert_eq!(page2.status, 200);
    let b2 = &page2.body;
    let rel2 = b2.find("<h1>Releases</h1>").unwrap();
    assert_eq!(
        b2[rel2..].matches("<tr><td><a href=\"/releases/").count(),
        7,
        "{b2}"
    );
    assert!(b2.contains(&format!("href=\"/?newer={id}-04\"")), "{b2}");
    assert!(!b2.contains("?older="), "{b2}");
    // Each row as before: status, mission, the rollout's phase, stage and weight, approvals.
    let listed = &b2[rel2..];
    let web_row = &listed[listed
        .find(&format!("<a href=\"/releases/{id}\">"))
        .unwrap()..];
    let web_row = &web_row[..web_row.find("</tr>").unwrap()];
    for want in ["progressing", "canary at 5 %", "<td>1</td>"] {
        assert!(web_row.contains(want), "{want}: {web_row}");
    }
}

/// What a page costs with a long history: `SHIP_PAGING_N` rollouts (default 10,000) recorded
/// straight in the store, a third of them in flight, then the median and slowest of 20 reads of
/// the API's first and a middle page, the dashboard's home and `/metrics`. Prints; asserts
/// nothing about time (a debug build on a shared machine says little about a release build).
/// `cargo test -p shiploop-server --test paging -- --ignored --nocapture`
#[tokio::test]
#[ignore]
async fn what_a_page_costs_with_a_long_history() {
    let n: usize = std::env::var("SHIP_PAGING_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (ws, id) = workspace();
    let opened = ws.open();
    let _c = begun(&opened).await;
    {
        let mut st = shiploop_controller::open_store(&opened).unwrap();
        let row = st.rollout(&id).unwrap().unwrap();
        for i in 0..n {
            let mut state = row.state.clone();
            if i % 3 != 0 {
                state.phase = Phase::Completed;
            }
            st.create_rollout(&format!("r{i:05}"), &row.plan, &state, t(i as i64 + 1))
                .unwrap();
        }
    }
    let app = app(&ws);
    let middle = format!("/api/v1/rollouts?cursor=r{:05}", n / 2);
    for uri in [
        "/api/v1/rollouts",
        middle.as_str(),
        "/api/v1/rollouts?phase=active",
        "/",
        "/metrics",
    ] {
        let mut took = vec![];
        let mut bytes = 0;
        for _ in 0..20 {
            let start = std::time::Instant::now();
            let r = call(&app, "GET", uri, Some(VIEWER), "").await;
            took.push(start.elapsed());
            assert_eq!(r.status, 200, "{uri}");
            bytes = r.body.len();
        }
        took.sort();
        println!(
            "{n} rollouts: GET {uri}: median {:?}, max {:?}, {bytes} bytes",
            took[took.len() / 2],
            took[took.len() - 1]
        );
    }
}
