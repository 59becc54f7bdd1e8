//! Whether a failure is the controller's own resource trouble rather than the provider's:
//! the process ran out of file descriptors (EMFILE, ENFILE), memory (ENOMEM, ENOBUFS) or, when
//! starting a process or thread, processes (EAGAIN). Such a failure says nothing about the
//! provider or the release, so it becomes [`crate::ErrorKind::Local`] and is never counted
//! against a rollout.
//!
//! Decided from the OS error number (or the I/O error's kind) of an [`std::io::Error`] found
//! anywhere in the error's chain of sources — reqwest wraps hyper's, which wraps the socket
//! call's — never from the text of a message.

use std::error::Error;
use std::io;

/// The error numbers that mean the process itself is short of a resource, on any call.
#[cfg(unix)]
const LOCAL: [i32; 4] = [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS];
#[cfg(not(unix))]
const LOCAL: [i32; 0] = [];

/// Whether `e` is the process's own shortage of descriptors or memory.
pub fn io_is_local(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::OutOfMemory {
        return true;
    }
    match e.raw_os_error() {
        Some(n) => LOCAL.contains(&n),
        // An io::Error wrapping another error (a custom one): look inside.
        None => e.get_ref().is_some_and(|inner| chain_is_local(inner)),
    }
}

/// Whether starting a process or a thread failed for want of the controller's own resources:
/// as [`io_is_local`], and EAGAIN (fork: too many processes; a thread: no resources for it).
/// Only here: on a socket EAGAIN means "try again", a peer's trouble.
pub fn spawn_is_local(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EAGAIN) {
        return true;
    }
    io_is_local(e)
}

/// Whether any error in `e`'s chain of sources (itself first) is an [`io::Error`] that
/// [`io_is_local`] says is the controller's own trouble.
pub fn chain_is_local(e: &(dyn Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io_is_local(io) {
                return true;
            }
        }
        next = err.source();
    }
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// An error wrapping another, as hyper's connect error wraps the socket call's.
    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tcp connect error")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn local_trouble_is_found_by_its_number_through_the_chain() {
        let emfile = Wrapper(Box::new(io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(chain_is_local(&emfile));
        let deeper = Wrapper(Box::new(Wrapper(Box::new(io::Error::from_raw_os_error(
            libc::ENFILE,
        )))));
        assert!(chain_is_local(&deeper));
        assert!(io_is_local(&io::Error::from(io::ErrorKind::OutOfMemory)));
        // A peer's trouble is not ours, whatever the message says.
        let refused = Wrapper(Box::new(io::Error::from_raw_os_error(libc::ECONNREFUSED)));
        assert!(!chain_is_local(&refused));
        let lying = io::Error::other("Too many open files");
        assert!(!io_is_local(&lying));
        // EAGAIN is ours only when starting a process or thread.
        let again = io::Error::from_raw_os_error(libc::EAGAIN);
        assert!(!io_is_local(&again));
        assert!(spawn_is_local(&again));
        // A custom io::Error carrying an OS error inside.
        let wrapped = io::Error::other(Wrapper(Box::new(io::Error::from_raw_os_error(
            libc::EMFILE,
        ))));
        assert!(io_is_local(&wrapped));
    }
}
