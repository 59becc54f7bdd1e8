use super::*;
use crate::contract;
use shiploop_testkit::postgres::Cluster;

/// The chain is checked a page at a time: links across a page boundary are checked too, and a
/// hand edit in a later page is found.
#[test]
fn the_chain_is_verified_across_pages() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let mut st = PgStore::open(&pg.database("pages")).unwrap();
    let ack = |i: i64| Event::OncallAcked(crate::event::OncallAcked { by: i.to_string() });
    for i in 0..20 {
        st.append("r1", &ack(i), contract::at(i)).unwrap();
    }
    let whole = st.verify_chain().unwrap();
    for page in [1, 7, 10, 19, 20, 21] {
        assert_eq!(st.verify_in_pages(page).unwrap(), whole, "pages of {page}");
    }
    assert!(whole.ok && whole.events == 20, "{whole:?}");
    st.batch_execute(
        "ALTER TABLE events DISABLE TRIGGER events_no_update; UPDATE events SET data = '{\"by\":\"x\"}' WHERE seq = 15",
    )
    .unwrap();
    let broken = st.verify_in_pages(7).unwrap();
    assert_eq!(
        (broken.ok, broken.broken_at, broken.events),
        (false, Some(15), 14)
    );
    assert!(broken.problem.unwrap().contains("was modified"));
}

/// `phases` reads the phase in SQL and names a rollout unreadable as decoding it would: a
/// phase ship does not know, and (read a rollout at a time then) a state or plan that is not
/// JSON.
#[test]
fn phases_name_unreadable_rollouts() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let mut st = PgStore::open(&pg.database("phases")).unwrap();
    for r in ["r1", "r2", "r3", "r4"] {
        st.create_rollout(
            r,
            &contract::plan("d"),
            &contract::state(0),
            contract::at(0),
        )
        .unwrap();
    }
    let names = |st: &PgStore| {
        let phases = st.phases().unwrap();
        assert_eq!(phases, crate::state_store::phases_by_rollout(st).unwrap());
        phases.into_iter().map(|(_, p)| p).collect::<Vec<String>>()
    };
    st.batch_execute("UPDATE rollouts SET state = '{\"phase\":\"sideways\"}' WHERE release = 'r1'")
        .unwrap();
    assert_eq!(names(&st), ["unreadable", "pending", "pending", "pending"]);
    st.batch_execute(
        "UPDATE rollouts SET state = 'not json' WHERE release = 'r2';
         UPDATE rollouts SET plan = 'not json' WHERE release = 'r3';",
    )
    .unwrap();
    assert_eq!(
        names(&st),
        ["unreadable", "unreadable", "unreadable", "pending"]
    );
}
