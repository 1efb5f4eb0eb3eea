import CLazyLibrary
import ChildProcess
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// libcups, SANE and libespeak-ng are opened when a device first needs them, not when
/// halld starts (CLazyLibrary). The CUPS, SANE and voice suites show that each opens
/// and works; these show what is not mapped, and what a missing library says.
@Suite("libraries opened when needed", .timeLimit(.minutes(2)))
struct LazyLibraryTests {
    /// `halld_lazy_load` on a library of its own with one function to resolve.
    static func load(_ soname: String, _ function: String) -> String? {
        let library = UnsafeMutablePointer<halld_lazy_library>.allocate(capacity: 1)
        let names = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: 1)
        let slots = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        let strings = [strdup(soname), strdup("libtest1"), strdup(function)]
        defer {
            pthread_mutex_destroy(&library.pointee.lock)
            library.deallocate(); names.deallocate(); slots.deallocate()
            strings.forEach { free($0) }
        }
        memset(library, 0, MemoryLayout<halld_lazy_library>.size)
        pthread_mutex_init(&library.pointee.lock, nil)
        names[0] = UnsafePointer(strings[2])
        library.pointee.soname = UnsafePointer(strings[0])
        library.pointee.package = UnsafePointer(strings[1])
        library.pointee.names = UnsafePointer(names)
        library.pointee.slots = slots
        library.pointee.count = 1
        let first = halld_lazy_load(library).map { String(cString: $0) }
        // A second call answers what the first found, without trying again.
        #expect(halld_lazy_load(library).map { String(cString: $0) } == first)
        if first == nil { #expect(slots[0] != nil) }
        return first
    }

    @Test("a missing library is named with its package and the loader's words; a missing function by name")
    func messages() throws {
        let missing = try #require(Self.load("libhalld-no-such.so.9", "f"))
        #expect(missing.hasPrefix("libhalld-no-such.so.9 cannot be loaded (Debian package libtest1): "), "\(missing)")
        #expect(missing.contains("No such file"), "\(missing)")
        #expect(Self.load("libsqlite3.so.0", "sqlite3_no_such_function") == "libsqlite3.so.0 has no function sqlite3_no_such_function (Debian package libtest1, too old?)")
        #expect(Self.load("libsqlite3.so.0", "sqlite3_libversion") == nil)
    }

    @Test("halld with the simulated devices maps neither libcups, SANE nor libespeak-ng, nor what they bring")
    func notMappedAtStart() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSimulatedConfigFile(dir + "/halld.toml", socket: dir + "/h.sock", state: dir + "/state")
        let halld = try await Child.start([builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "info"])
        try await halld.waitForOutput("listening on", within: .seconds(30))
        // Read to the end: /proc files report no size, and a read of one buffer gets part.
        let maps = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(halld.pid)/maps")).readToEnd() ?? Data(), as: UTF8.self)
        let status = await halld.stop()
        #expect(status == 0, "halld's exit status: \(halld.output)")
        // The maps are halld's: SQLite is linked and mapped from the start.
        #expect(maps.contains("libsqlite3.so"))
        for library in ["libcups.so", "libsane.so", "libespeak-ng.so", "libgnutls.so", "libpulse.so", "libxml2.so", "libX11.so"] {
            #expect(!maps.contains(library), "\(library) is mapped")
        }
    }
}
