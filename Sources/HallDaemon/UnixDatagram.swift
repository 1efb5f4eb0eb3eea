import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket that sends to Unix socket paths (systemd's notify socket,
/// journald's socket): `@name` is the abstract namespace, as systemd writes it.
final class UnixDatagram: Sendable {
    private let fd: Int32

    init?() {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// Sends `datagram` to `path`; true when all of it was sent. Without `wait` a full
    /// receive queue refuses it at once (for callers on the cooperative pool); with
    /// `wait` the call blocks until there is room (for a thread of its own).
    @discardableResult
    func send(_ datagram: [UInt8], to path: String, wait: Bool = false) -> Bool {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        guard !name.isEmpty, name.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (abstract ? 0 : 1))
        let sent = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                datagram.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(wait ? MSG_NOSIGNAL : MSG_NOSIGNAL | MSG_DONTWAIT), sa, length) }
            }
        }
        return sent == datagram.count
    }
}
