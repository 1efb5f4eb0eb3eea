import Foundation
import Testing
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// The one sockaddr_un helper: paths, abstract names, limits, stale socket files.
@Suite("Unix socket addresses", .timeLimit(.minutes(1)))
struct UnixSocketTests {
    @Test("a path counts its terminating zero, an abstract name its leading zero and no end; getsockname's address reads back")
    func lengths() throws {
        let path = try UnixSocketAddress("/run/halld/halld.sock")
        #expect(Int(path.length) == MemoryLayout<sa_family_t>.size + "/run/halld/halld.sock".utf8.count + 1)
        let abstract = try UnixSocketAddress("@halld-test")
        #expect(Int(abstract.length) == MemoryLayout<sa_family_t>.size + 1 + "halld-test".utf8.count, "the leading zero byte and the name")

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in [dir + "/服务.sock", "@halld-test-\(getpid())"] {
            let fd = try UnixSocket.bind(name)
            defer { close(fd) }
            var address = sockaddr_un()
            var length = socklen_t(MemoryLayout<sockaddr_un>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            #expect(UnixSocketAddress.path(of: address, length: length) == name)
            #expect(UnixSocket.isAnswering(name))
        }
    }

    @Test("a path too long or empty is refused with its length; a stale socket file does not answer")
    func refusals() throws {
        let long = "/tmp/" + String(repeating: "x", count: 120)
        #expect { try UnixSocketAddress(long) } throws: { error in
            "\(error)".contains("too long (125 bytes, at most 107)") && "\(error)".contains(long)
        }
        #expect(throws: UnixSocketError.self) { try UnixSocketAddress("") }

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stale = dir + "/stale.sock"
        close(try UnixSocket.bind(stale))
        #expect(FileManager.default.fileExists(atPath: stale), "the file stays after its listener closed")
        #expect(!UnixSocket.isAnswering(stale))
        #expect { _ = try UnixSocket.connect(to: stale) } throws: { error in
            (error as? UnixSocketError)?.code == ECONNREFUSED && "\(error)".hasPrefix("connect \(stale): ")
        }
    }
}
