import DeviceKit
import Foundation

/// Where scanned pages live while their job is known: `<state dir>/spool/<job id>/`.
/// Only job ids the daemon made (UUIDs) and page numbers reach the file system.
public struct ScanSpool: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public static func isJobID(_ id: String) -> Bool { UUID(uuidString: id) != nil && id == id.lowercased() }

    public func jobDirectory(_ job: String) throws -> String {
        guard Self.isJobID(job) else { throw DeviceError(.notFound, "no scan job \(job)") }
        return (directory as NSString).appendingPathComponent(job)
    }

    public func pagePath(job: String, page: Int, format: String) throws -> String {
        (try jobDirectory(job) as NSString).appendingPathComponent("page-\(page).\(format)")
    }

    public func write(_ data: Data, job: String, page: Int, format: String) throws {
        let dir = try jobDirectory(job)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.writeInPieces(data, to: try pagePath(job: job, page: page, format: format))
    }

    /// Writes a page in 256 KiB pieces: one write(2) of a whole 26 MB page cost the
    /// kernel several times what the same bytes cost in pieces (measured with perf).
    static func writeInPieces(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DeviceError(.hardwareError, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, min(256 * 1024, bytes.count - offset))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DeviceError(.hardwareError, "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    /// The job's whole document (the PDF of a `pdf` job).
    public func writeDocument(_ data: Data, job: String) throws {
        let dir = try jobDirectory(job)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("document.pdf")))
    }

    public func readDocument(job: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: (try jobDirectory(job) as NSString).appendingPathComponent("document.pdf")))
    }

    public func read(job: String, page: Int, format: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: try pagePath(job: job, page: page, format: format)))
    }

    public func remove(job: String) {
        if let dir = try? jobDirectory(job) { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Removes every job folder except `keep`: pages of jobs from before a restart are not reachable.
    public func removeAll(except keep: Set<String> = []) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in entries where Self.isJobID(name) && !keep.contains(name) {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}
