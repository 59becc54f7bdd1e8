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

/// `sslrootcert` and the verifying modes come out of the URL where tokio-postgres would read
/// them (after the user's `@`, from the first `?`); what it knows stays as it was.
#[test]
fn tls_parameters_are_taken_out_of_the_url() {
    use std::path::PathBuf;
    use tls::{split_params, Mode};
    let plain = "postgres://ship:p%3Fss@db:5432/ship";
    let s = split_params(plain).unwrap();
    assert_eq!((s.url.as_str(), s.verify, s.root_file), (plain, None, None));
    let s = split_params(
        "postgresql://ship:pw@db/ship?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20one.pem",
    )
    .unwrap();
    assert_eq!(
        s.url,
        "postgresql://ship:pw@db/ship?application_name=x&sslmode=require"
    );
    assert_eq!(s.verify, Some(Mode::VerifyFull));
    assert_eq!(s.root_file, Some(PathBuf::from("/etc/ca one.pem")));
    // The last sslmode wins, as in tokio-postgres.
    let s = split_params("postgres://db/ship?sslmode=verify-ca&sslmode=disable").unwrap();
    assert_eq!(s.url, "postgres://db/ship?sslmode=require&sslmode=disable");
    assert_eq!(s.verify, None);
    let s = split_params("postgres://db/ship?sslmode=verify-ca").unwrap();
    assert_eq!(s.verify, Some(Mode::VerifyCa));
    // Only sslrootcert: no parameter left.
    let s = split_params("postgres://u@db?sslrootcert=ca.pem").unwrap();
    assert_eq!(s.url, "postgres://u@db");
    assert_eq!(s.root_file, Some(PathBuf::from("ca.pem")));
}

/// What a URL asks for, as messages name it; a root file that cannot be used or a mode libpq
/// does not know is a bad location, named without the password.
#[test]
fn tls_settings_follow_libpq() {
    let dir = tempfile::tempdir().unwrap();
    let shown = |url: &str| tls::parse(url).map(|(_, t)| t.to_string());
    let base = "postgres://ship:s3cret@db:5432/ship";
    assert_eq!(
        shown(base).unwrap(),
        "sslmode=prefer, the server's certificate not verified"
    );
    assert_eq!(
        shown(&format!("{base}?sslmode=require")).unwrap(),
        "sslmode=require, the server's certificate not verified"
    );
    assert_eq!(
        shown(&format!("{base}?sslmode=verify-full")).unwrap(),
        "sslmode=verify-full, the Mozilla roots (webpki-roots)"
    );
    let missing = dir.path().join("none.pem");
    for url in [
        format!("{base}?sslmode=verify-ca&sslrootcert={}", missing.display()),
        format!("{base}?sslmode=sometimes"),
    ] {
        let e = shown(&url).unwrap_err();
        assert!(matches!(e, StoreError::BadLocation(_)), "{e:?}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
    let e = shown(&format!("{base}?sslrootcert={}", missing.display())).unwrap_err();
    assert!(e.to_string().contains("none.pem"), "{e}");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let e = shown(&format!(
        "{base}?sslmode=require&sslrootcert={}",
        not_pem.display()
    ))
    .unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}

/// A database an older ship left (schema version 2), with a row edited by hand into something
/// that is not JSON: migrating to version 3 names every rollout's phase as decoding it would,
/// and the hand-edited row does not stop the migration.
#[test]
fn the_phase_columns_are_filled_in_when_an_older_database_is_migrated() {
    let Some(pg) = Cluster::start_or_skip() else {
        return;
    };
    let url = pg.database("phase_columns");
    let bridge = Bridge::start(&url).unwrap();
    bridge
        .run(async |c: &mut Client| Ok(schema::migrate_to(c, 2).await?))
        .unwrap();
    let stored = contract::plan("d");
    let kind = stored.kind_name().to_string();
    let plan = column(&stored).unwrap();
    let state = column(&contract::state(0)).unwrap();
    for (release, plan, state) in [
        ("r1", plan.as_str(), state.as_str()),
        ("r2", plan.as_str(), "not json"),
        ("r3", "not json", state.as_str()),
    ] {
        let created = ts(contract::at(0));
        let row = [release, &kind, plan, state, &created].map(String::from);
        bridge
            .run(async move |c: &mut Client| {
                let [release, kind, plan, state, created] = row;
                c.execute(
                    "INSERT INTO rollouts (release, kind, plan, state, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $5)",
                    &[&release, &kind, &plan, &state, &created],
                )
                .await?;
                Ok(())
            })
            .unwrap();
    }
    drop(bridge);
    let st = PgStore::open(&url).unwrap();
    let phases = st.phases().unwrap();
    assert_eq!(phases, crate::state_store::phases_by_rollout(&st).unwrap());
    let names: Vec<&str> = phases.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(names, ["pending", "unreadable", "unreadable"]);
}
