//! Test support: running one test again, alone, in a child process whose file descriptors run
//! out — so the shortage the test needs is shared with no other test.

// Test support: an unwrap here is a test's assertion.
#![allow(clippy::unwrap_used)]

/// Set in the child process.
const CHILD: &str = "SHIP_TEST_STARVED_CHILD";

/// Whether this is the child process [`run_in_child`] started.
pub(crate) fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` (its full path, e.g. `smoke::tests::…`) alone in this test binary
/// again, in a child process, and fails unless it ran and passed there.
pub(crate) fn run_in_child(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

/// Lowers the open-file limit to 256, so using every descriptor is quick.
pub(crate) fn lower_limit() {
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // Safe: setrlimit(2) with a valid struct; lowering the limit needs no privilege.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
}

/// Opens /dev/null until no descriptor is left; the files hold them until dropped.
pub(crate) fn use_every_descriptor() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}
