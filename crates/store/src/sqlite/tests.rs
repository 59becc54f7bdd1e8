use super::*;
use crate::chain::event_hash;
use crate::contract;

/// Fresh stores in temporary folders, kept until the test ends.
fn fresh(dirs: &mut Vec<tempfile::TempDir>) -> SqliteStore {
    let dir = tempfile::tempdir().unwrap();
    let st = SqliteStore::open(&dir.path().join("state.db")).unwrap();
    dirs.push(dir);
    st
}

/// The model test's thousands of small transactions need not each wait for the disk: the
/// contract is the same with or without fsync.
fn fresh_unsynced(_dirs: &mut Vec<tempfile::TempDir>) -> SqliteStore {
    SqliteStore::in_memory().unwrap()
}

#[test]
fn sqlite_keeps_the_store_contract() {
    let mut dirs = vec![];
    contract::run_all(|| fresh(&mut dirs));
}

#[test]
fn sqlite_matches_the_model() {
    let mut dirs = vec![];
    contract::model::run(contract::model::seed(), contract::model::CASES, || {
        fresh_unsynced(&mut dirs)
    });
}

/// A database written before events were typed: rows as `json!` wrote them, chained with
/// the same hash. It verifies, reads back typed, and the chain goes on from it.
#[test]
fn a_log_written_before_typed_events_verifies_and_reads_typed() {
    let mut dirs = vec![];
    let mut st = fresh(&mut dirs);
    let plan = contract::plan("sha256:1");
    let state_text = serde_json::to_value(contract::state(0))
        .unwrap()
        .to_string();
    let plan_doc =
        serde_json::json!({ "plan": plan.plan, "kind": "standard", "digest": "sha256:1" });
    let old: Vec<(&str, serde_json::Value)> = vec![
        (
            "rollout-created",
            serde_json::json!({ "kind": "standard", "plan": plan_doc, "state_sha256": sha256_hex(&state_text) }),
        ),
        (
            "router",
            serde_json::json!({ "phase": "intent", "action": "set-weight", "weight": 5 }),
        ),
        ("oncall-acked", serde_json::json!({ "by": "alice" })),
        ("from-the-future", serde_json::json!({ "x": 1 })),
    ];
    st.connection()
        .execute(
            "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at) VALUES ('r1', 'standard', ?1, ?2, ?3, ?3)",
            params![plan_doc.to_string(), state_text, ts(contract::at(0))],
        )
        .unwrap();
    let mut conn = st.connection();
    let tx = conn.transaction().unwrap();
    let mut prev = GENESIS.to_string();
    for (i, (kind, data)) in old.iter().enumerate() {
        let seq = i as i64 + 1;
        let at = ts(contract::at(seq));
        let data = data.to_string();
        let hash = event_hash(&prev, seq, &at, "r1", kind, &data);
        tx.execute(
            "INSERT INTO events (seq, at, release, kind, data, prev_hash, hash) VALUES (?1, ?2, 'r1', ?3, ?4, ?5, ?6)",
            params![seq, at, kind, data, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
    tx.commit().unwrap();
    drop(conn);
    assert!(st.verify_chain().unwrap().ok);
    let r = st.rollout("r1").unwrap().unwrap();
    assert_eq!(r.plan, plan);
    assert_eq!(st.state_problem("r1").unwrap(), None);
    let events = st.events(None).unwrap();
    assert!(matches!(&events[0].event, Event::RolloutCreated(c) if c.plan == plan));
    assert_eq!(
        events[1].event,
        Event::Router(crate::event::RouterCall::intent(
            crate::event::RouterAction::SetWeight,
            5
        ))
    );
    assert_eq!(events[3].kind(), "from-the-future");
    let ack = Event::OncallAcked(crate::event::OncallAcked { by: "bob".into() });
    let e = st.append("r1", &ack, contract::at(9)).unwrap();
    assert_eq!(e.prev_hash, prev);
    let report = st.verify_chain().unwrap();
    assert!(report.ok && report.events == 5, "{report:?}");
}

#[test]
fn ship_cannot_rewrite_the_log_and_a_hand_edit_breaks_the_chain() {
    let mut dirs = vec![];
    let mut st = fresh(&mut dirs);
    st.create_rollout(
        "r1",
        &contract::plan("d"),
        &contract::state(0),
        contract::at(0),
    )
    .unwrap();
    let ack = Event::OncallAcked(crate::event::OncallAcked { by: "a".into() });
    st.append("r1", &ack, contract::at(1)).unwrap();
    st.append("r1", &ack, contract::at(2)).unwrap();
    assert!(st.verify_chain().unwrap().ok);
    // ship itself cannot rewrite history…
    assert!(st
        .connection()
        .execute("UPDATE events SET data = '{}' WHERE seq = 2", [])
        .is_err());
    assert!(st
        .connection()
        .execute("DELETE FROM events WHERE seq = 2", [])
        .is_err());
    // …and a hand edit that gets around the triggers is caught.
    st.connection()
        .execute_batch(
            "DROP TRIGGER events_no_update; UPDATE events SET data = '{\"by\":\"b\"}' WHERE seq = 3;",
        )
        .unwrap();
    let report = st.verify_chain().unwrap();
    assert!(!report.ok);
    assert_eq!(report.broken_at, Some(3));
    assert!(report.problem.unwrap().contains("was modified"));
    // An edited state no longer matches the hash its creation recorded.
    st.connection()
        .execute_batch("UPDATE rollouts SET state = json_set(state, '$.weight', 50)")
        .unwrap();
    let problem = st.state_problem("r1").unwrap().unwrap();
    assert!(problem.contains("the state was edited"), "{problem}");
}

/// The API and `ship audit log --json` show events as they are stored.
#[test]
fn a_logged_event_serializes_as_its_columns() {
    let mut dirs = vec![];
    let mut st = fresh(&mut dirs);
    let ack = Event::OncallAcked(crate::event::OncallAcked { by: "a".into() });
    let e = st.append("r1", &ack, contract::at(1)).unwrap();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["kind"], "oncall-acked");
    assert_eq!(v["data"], serde_json::json!({ "by": "a" }));
    assert_eq!(v["seq"], 1);
    assert_eq!(v["release"], "r1");
    assert_eq!(v["hash"], e.hash.as_str());
    let odd = Event::Unrecognised(crate::event::Unrecognised {
        kind: "x".into(),
        data: serde_json::json!([1]),
    });
    let e = st.append("r1", &odd, contract::at(2)).unwrap();
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        (&v["kind"], &v["data"]),
        (&serde_json::json!("x"), &serde_json::json!([1]))
    );
}

/// A rollout whose state no longer parses is named, not hidden: `releases` still lists it
/// and `rollout` says it is corrupt, so readers can go on past it.
#[test]
fn an_unreadable_rollout_is_corrupt_and_still_listed() {
    let mut dirs = vec![];
    let mut st = fresh(&mut dirs);
    for r in ["r1", "r2"] {
        st.create_rollout(
            r,
            &contract::plan("d"),
            &contract::state(0),
            contract::at(0),
        )
        .unwrap();
    }
    st.connection()
        .execute_batch(
            "UPDATE rollouts SET state = '{\"phase\":\"sideways\"}' WHERE release = 'r1'",
        )
        .unwrap();
    assert_eq!(st.releases().unwrap(), ["r1", "r2"]);
    assert!(matches!(st.rollout("r1"), Err(StoreError::Corrupt(_))));
    assert!(matches!(st.rollouts(), Err(StoreError::Corrupt(_))));
    assert_eq!(st.rollout("r2").unwrap().unwrap().state, contract::state(0));
}

/// `phases` reads the phase in SQL and names a rollout unreadable as decoding it would: a
/// phase ship does not know, a state or a plan that is not JSON.
#[test]
fn phases_name_unreadable_rollouts() {
    let mut dirs = vec![];
    let mut st = fresh(&mut dirs);
    for r in ["r1", "r2", "r3", "r4"] {
        st.create_rollout(
            r,
            &contract::plan("d"),
            &contract::state(0),
            contract::at(0),
        )
        .unwrap();
    }
    st.connection()
        .execute_batch(
            "UPDATE rollouts SET state = '{\"phase\":\"sideways\"}' WHERE release = 'r1';
             UPDATE rollouts SET state = 'not json' WHERE release = 'r2';
             UPDATE rollouts SET plan = 'not json' WHERE release = 'r3';",
        )
        .unwrap();
    let phases = st.phases().unwrap();
    let names: Vec<(&str, &str)> = phases
        .iter()
        .map(|(r, p)| (r.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("r1", "unreadable"),
            ("r2", "unreadable"),
            ("r3", "unreadable"),
            ("r4", "pending"),
        ]
    );
    assert_eq!(phases, crate::state_store::phases_by_rollout(&st).unwrap());
}
