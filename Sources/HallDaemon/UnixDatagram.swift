import Foundation
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket that sends to Unix socket paths (systemd's notify socket,
/// journald's socket): `@name` is the abstract namespace, as systemd writes it.
final class UnixDatagram: Sendable {
    private let fd: Int32

    init?() {
        guard let fd = try? UnixSocket.open(SOCK_DGRAM) else { return nil }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `datagram` to `path`; true when all of it was sent. Without `wait` a full
    /// receive queue refuses it at once (for callers on the cooperative pool); with
    /// `wait` the call blocks until there is room (for a thread of its own).
    @discardableResult
    func send(_ datagram: [UInt8], to path: String, wait: Bool = false) -> Bool {
        guard let address = try? UnixSocketAddress(path) else { return false }
        let sent = address.withSockaddr { sa, length in
            datagram.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(wait ? MSG_NOSIGNAL : MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
        }
        return sent == datagram.count
    }
}
