#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ends the process at `exit` without running the shared libraries' destructors:
/// stdio is flushed, then `_exit` with the same status. Registered once, by a running
/// daemon (`Daemon.run`) and by every process that loads SANE or CUPS.
///
/// Why: a test run passed and then hung at exit. p11-kit's destructor (loaded with
/// CUPS, through GnuTLS) waited in `freelocale` for glibc's locale lock, which a reader
/// held with no thread left to release it. The likely holder: SANE backends (the test
/// backend among them) and CUPS end threads of theirs with `pthread_cancel`, and a
/// thread cancelled inside `strerror` (its message lookup holds that lock while it
/// opens files, a cancellation point) leaves the lock held for good. halld closes its database and
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
