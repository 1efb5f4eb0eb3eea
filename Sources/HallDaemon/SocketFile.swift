import Foundation
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// The Unix socket's file: made ready before binding, given its mode and group
/// after, and removed at shutdown.
enum SocketFile {
    struct InUse: Error, CustomStringConvertible {
        let path: String
        var description: String { "another halld is already answering on \(path)" }
    }

    /// Creates the folder, and removes a socket file left by a daemon that died
    /// (nobody answers on it). Refuses when a live daemon answers.
    static func prepare(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.fileExists(atPath: path) else { return }
        if isAnswering(path) { throw InUse(path: path) }
        unlink(path)
    }

    static func isAnswering(_ path: String) -> Bool { UnixSocket.isAnswering(path) }

    /// Mode 0660 and, when the group exists, that group: only its members connect.
    /// Returns what was done, for the log.
    static func restrict(_ path: String, group: String) -> String {
        chmod(path, 0o660)
        if let g = getgrnam(group) {
            if chown(path, uid_t.max, g.pointee.gr_gid) == 0 { return "mode 0660, group \(group)" }
            return "mode 0660, group \(group) not set: \(String(cString: strerror(errno)))"
        }
        return "mode 0660 (group \(group) does not exist here)"
    }

    static func remove(_ path: String) {
        unlink(path)
    }
}
