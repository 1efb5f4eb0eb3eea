import Testing

/// Tests with real peers — pseudo-terminals, socat, pymodbus, child processes — run
/// one at a time: a process started by one test must not inherit a pty another
/// test is hanging up, and timing-sensitive exchanges do not compete for 2 cores.
@Suite(.serialized, .timeLimit(.minutes(3))) enum PeerTests {}
