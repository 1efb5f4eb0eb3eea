import Foundation
import HallAPIModels
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Who is at the other end of a connection, from the kernel (`SO_PEERCRED`), not
/// from anything the client says.
public struct PeerIdentity: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    /// Primary and supplementary groups of the peer process.
    public var groups: Set<UInt32>

    public init(pid: Int32, uid: UInt32, groups: Set<UInt32>) {
        self.pid = pid
        self.uid = uid
        self.groups = groups
    }
}

/// `struct ucred` from <sys/socket.h> (Linux): pid, uid, gid.
private struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

private let soPeerCred: Int32 = 17  // SO_PEERCRED on Linux

extension PeerIdentity {
    /// Reads the peer credentials of a Unix-socket connection. Nil for channels
    /// that are not sockets (tests through the router) or not Unix sockets.
    public static func of(_ channel: any Channel) async -> PeerIdentity? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        do {
            let cred: PeerCredentials = try await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(soPeerCred)).get()
            guard cred.pid > 0 else { return nil }
            return PeerIdentity(pid: cred.pid, uid: cred.uid, groups: groups(pid: cred.pid, primary: cred.gid))
        } catch {
            return nil
        }
    }

    /// The process's groups from `/proc/PID/status`, which the kernel keeps for the
    /// running process; the primary group alone when that cannot be read.
    static func groups(pid: Int32, primary: UInt32) -> Set<UInt32> {
        var groups: Set<UInt32> = [primary]
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return groups }
        for line in status.split(separator: "\n") where line.hasPrefix("Groups:") {
            for field in line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                if let g = UInt32(field) { groups.insert(g) }
            }
        }
        return groups
    }
}

/// Maps peer identities to roles: root and the daemon's own user are technicians;
/// others get the highest role whose configured groups they belong to.
public struct RoleMap: Sendable, Equatable {
    public var technicianGroups: Set<UInt32>
    public var clerkGroups: Set<UInt32>
    public var kioskGroups: Set<UInt32>
    public var daemonUID: UInt32

    public init(technicianGroups: Set<UInt32> = [], clerkGroups: Set<UInt32> = [], kioskGroups: Set<UInt32> = [], daemonUID: UInt32 = getuid()) {
        self.technicianGroups = technicianGroups
        self.clerkGroups = clerkGroups
        self.kioskGroups = kioskGroups
        self.daemonUID = daemonUID
    }

    public func role(for peer: PeerIdentity?) -> Role {
        guard let peer else { return .none }
        if peer.uid == 0 || peer.uid == daemonUID { return .technician }
        if !peer.groups.isDisjoint(with: technicianGroups) { return .technician }
        if !peer.groups.isDisjoint(with: clerkGroups) { return .clerk }
        if !peer.groups.isDisjoint(with: kioskGroups) { return .kiosk }
        return .none
    }

    /// Group ids of group names; names the system does not know are returned apart.
    public static func resolve(_ names: [String]) -> (ids: Set<UInt32>, unknown: [String]) {
        var ids: Set<UInt32> = [], unknown: [String] = []
        for name in names {
            if let g = getgrnam(name) { ids.insert(g.pointee.gr_gid) } else { unknown.append(name) }
        }
        return (ids, unknown)
    }
}
