#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ends the process at `exit` without running the shared libraries' destructors:
/// stdio is flushed, then `_exit` with the same status. Registered once, by a running
/// daemon (`Daemon.run`) and by every process that loads SANE or CUPS.
///
/// Why: SANE backends (the test backend among them) and CUPS end threads of theirs
/// with `pthread_cancel`. A thread cancelled inside `strerror` (a message lookup holds
/// glibc's locale lock while it opens files, a cancellation point) leaves that lock
/// held for good. At `exit`, p11-kit's destructor (loaded with CUPS, through GnuTLS)
/// calls `freelocale`, which waits for the lock: the process never ends. It was seen
/// as a test run that passed and then hung at exit. halld closes its database and
/// flushes its logs before it returns, so nothing is lost by skipping the destructors.
/// What runs from them is skipped too: a coverage profile or LeakSanitizer's report
/// is not written by such a process.
public enum ExitWithoutDestructors {
    private static let registered = Atomic<Bool>(false)

    public static func register() {
        guard !registered.exchange(true, ordering: .acquiringAndReleasing) else { return }
        #if canImport(Glibc)
        on_exit({ status, _ in
            fflush(nil)
            _exit(status)
        }, nil)
        #endif
    }
}
