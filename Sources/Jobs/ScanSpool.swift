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
        try data.write(to: URL(fileURLWithPath: try pagePath(job: job, page: page, format: format)))
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
