import Foundation
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// Sockets passed by systemd socket activation (`sd_listen_fds(3)`): descriptors
/// 3 … 3+LISTEN_FDS-1, meant for this process when LISTEN_PID is its pid.
public enum SystemdSockets {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The first descriptor of `LISTEN_FDS`, checked to be a listening Unix stream
    /// socket; nil when systemd passed none to this process. Marks the passed
    /// descriptors close-on-exec (children such as CUPS backends must not hold them).
    public static func inheritedUnixListener(environment: [String: String], pid: Int32 = getpid(), first: Int32 = 3) throws -> (fd: Int32, name: String)? {
        guard let countText = environment["LISTEN_FDS"], let count = Int32(countText), count > 0 else { return nil }
        guard let listenPID = environment["LISTEN_PID"].flatMap(Int32.init), listenPID == pid else { return nil }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        for fd in first..<(first + count) { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let fd = first
        var type: Int32 = 0
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            throw Problem(description: "LISTEN_FDS: descriptor \(fd) is not a socket (\(String(cString: strerror(errno))))")
        }
        length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length)
        var address = sockaddr_storage()
        var addressLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &addressLength) } }
        guard type == Int32(SOCK_STREAM.rawValue), listening == 1, address.ss_family == sa_family_t(AF_UNIX) else {
            throw Problem(
                description: "LISTEN_FDS: descriptor \(fd) must be a listening Unix stream socket (halld.socket: ListenStream=/run/halld/halld.sock)")
        }
        let path = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { UnixSocketAddress.path(of: $0.pointee, length: addressLength) }
        }
        return (fd, names.first.flatMap { $0.isEmpty ? nil : $0 } ?? (path.isEmpty ? "inherited socket" : path))
    }
}
