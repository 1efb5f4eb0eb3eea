#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a Unix socket: the operation, the path and the system's reason.
public struct UnixSocketError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    /// errno, or 0 when the path itself is unusable.
    public let code: Int32
    public let reason: String

    init(_ operation: String, _ path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
        reason = String(cString: strerror(code))
    }

    init(_ operation: String, _ path: String, reason: String) {
        self.operation = operation
        self.path = path
        code = 0
        self.reason = reason
    }

    public var description: String { "\(operation) \(path): \(reason)" }
}

/// A Unix socket's address: a path, or an abstract name written `@name`. The one place
/// in halld that fills a `sockaddr_un` (the daemon, hallctl, hall-bench and the tests
/// all go through it).
public struct UnixSocketAddress: Sendable {
    public let path: String
    private let storage: sockaddr_un
    /// The address length to pass with it: a path counts its terminating zero, an
    /// abstract name does not.
    public let length: socklen_t

    public init(_ path: String) throws(UnixSocketError) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !name.isEmpty else { throw UnixSocketError("address", path, reason: "empty socket path") }
        guard name.count < capacity else {
            throw UnixSocketError("address", path, reason: "socket path too long (\(name.count) bytes, at most \(capacity - 1))")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: name)
            if !abstract { raw[name.count] = 0 }
        }
        self.path = path
        storage = addr
        length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (abstract ? 0 : 1))
    }

    /// Calls `body` with the address as a `sockaddr` and its length.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        try withUnsafePointer(to: storage) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }

    /// The path (or `@name`) in an address the system filled in, e.g. by getsockname.
    public static func path(of address: sockaddr_un, length: socklen_t) -> String {
        let nameLength = Int(length) - MemoryLayout<sa_family_t>.size
        guard nameLength > 0 else { return "" }
        var bytes = withUnsafeBytes(of: address.sun_path) { Array($0.prefix(nameLength)) }
        if bytes.first == 0 {
            bytes[0] = UInt8(ascii: "@")
            return String(decoding: bytes, as: UTF8.self)
        }
        if let end = bytes.firstIndex(of: 0) { bytes = Array(bytes[..<end]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Opening Unix sockets. Every descriptor is close-on-exec: a child process started
/// later must not keep a connection or a listener alive.
public enum UnixSocket {
    /// A socket of `type` (SOCK_STREAM, SOCK_DGRAM) that is not yet connected or bound.
    public static func open(_ type: __socket_type = SOCK_STREAM, for path: String = "") throws(UnixSocketError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UnixSocketError("socket", path, code: errno) }
        return fd
    }

    /// A socket connected to `path`. Blocks while the peer's backlog is full: call it
    /// from a thread of its own, not from the cooperative pool, unless the peer is known
    /// to be answering.
    public static func connect(to path: String, type: __socket_type = SOCK_STREAM) throws(UnixSocketError) -> Int32 {
        let address = try UnixSocketAddress(path)
        let fd = try open(type, for: path)
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else {
            let code = errno
            close(fd)
            throw UnixSocketError("connect", path, code: code)
        }
        return fd
    }

    /// A socket bound to `path` (and listening, for a stream socket, with `backlog`).
    public static func bind(_ path: String, type: __socket_type = SOCK_STREAM, backlog: Int32 = 128) throws(UnixSocketError) -> Int32 {
        let address = try UnixSocketAddress(path)
        let fd = try open(type, for: path)
        guard address.withSockaddr({ Glibc.bind(fd, $0, $1) }) == 0 else {
            let code = errno
            close(fd)
            throw UnixSocketError("bind", path, code: code)
        }
        if type == SOCK_STREAM, listen(fd, backlog) != 0 {
            let code = errno
            close(fd)
            throw UnixSocketError("listen", path, code: code)
        }
        return fd
    }

    /// True when something accepts connections on `path` (a stale socket file left by
    /// a process that died refuses them).
    public static func isAnswering(_ path: String) -> Bool {
        guard let fd = try? connect(to: path) else { return false }
        close(fd)
        return true
    }
}
