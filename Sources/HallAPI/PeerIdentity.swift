import Foundation
import HallAPIModels
import NIOCore
import Synchronization

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
private let soPeerGroups: Int32 = 59  // SO_PEERGROUPS on Linux (4.13 and later)

/// Room for 128 supplementary group ids: SO_PEERGROUPS answers ERANGE for a peer
/// with more, and the primary group alone is used then.
private struct PeerGroupBuffer {
    var low: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var high: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// The ids the kernel wrote. Its list is sorted ascending and the buffer starts
    /// zeroed, so trailing zeros are padding; a 0 can only be a member in first place.
    var groups: Set<UInt32> {
        var all = withUnsafeBytes(of: self) { Array($0.bindMemory(to: UInt32.self)) }
        while all.last == 0 { all.removeLast() }
        return Set(all)
    }
}

extension PeerIdentity {
    /// Reads the peer credentials of a Unix-socket connection when it is accepted:
    /// the uid, gid and pid from `SO_PEERCRED` and the supplementary groups from
    /// `SO_PEERGROUPS`, as the kernel recorded them at connect time (not whatever
    /// process holds that pid later). Nil for channels that are not Unix sockets.
    static func atAccept(_ channel: any Channel) -> EventLoopFuture<PeerIdentity?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let level = SocketOptionLevel(SOL_SOCKET)
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: level, name: SocketOptionName(soPeerCred))
        return credentials.flatMap { cred -> EventLoopFuture<PeerIdentity?> in
            guard cred.pid > 0 else { return channel.eventLoop.makeSucceededFuture(nil) }
            let groups: EventLoopFuture<PeerGroupBuffer> = provider.unsafeGetSocketOption(level: level, name: SocketOptionName(soPeerGroups))
            return groups.map { buffer in
                PeerIdentity(pid: cred.pid, uid: cred.uid, groups: buffer.groups.union([cred.gid]))
            }.recover { _ in
                PeerIdentity(pid: cred.pid, uid: cred.uid, groups: [cred.gid])
            }
        }.recover { _ in nil }
    }

    /// The identity taken when `channel` was accepted (nil for TCP, or a channel
    /// that did not come through the API server's listener).
    public static func of(_ channel: any Channel) -> PeerIdentity? {
        ConnectionPeers.shared.identity(of: channel)
    }
}

/// The peer identity of every open Unix-socket connection, taken at accept time and
/// dropped when the connection closes.
final class ConnectionPeers: Sendable {
    static let shared = ConnectionPeers()
    private let byChannel = Mutex<[ObjectIdentifier: PeerIdentity]>([:])

    func remember(_ identity: PeerIdentity?, for channel: any Channel) {
        guard let identity else { return }
        let key = ObjectIdentifier(channel)
        byChannel.withLock { $0[key] = identity }
        channel.closeFuture.whenComplete { [self] _ in _ = byChannel.withLock { $0.removeValue(forKey: key) } }
    }

    func identity(of channel: any Channel) -> PeerIdentity? {
        byChannel.withLock { $0[ObjectIdentifier(channel)] }
    }
}

/// Maps peer identities to roles: root and the daemon's own user are technicians;
/// others get the highest role whose configured groups they belong to.
public struct RoleMap: Sendable, Equatable {
    public var technicianGroups: Set<UInt32>
    public var clerkGroups: Set<UInt32>
    public var kioskGroups: Set<UInt32>
    public var districtGroups: Set<UInt32>
    public var managerGroups: Set<UInt32>
    public var daemonUID: UInt32

    public init(
        technicianGroups: Set<UInt32> = [], clerkGroups: Set<UInt32> = [], kioskGroups: Set<UInt32> = [], districtGroups: Set<UInt32> = [],
        managerGroups: Set<UInt32> = [], daemonUID: UInt32 = getuid()
    ) {
        self.technicianGroups = technicianGroups
        self.clerkGroups = clerkGroups
        self.kioskGroups = kioskGroups
        self.districtGroups = districtGroups
        self.managerGroups = managerGroups
        self.daemonUID = daemonUID
    }

    public func role(for peer: PeerIdentity?) -> Role {
        guard let peer else { return .none }
        if peer.uid == 0 || peer.uid == daemonUID { return .technician }
        if !peer.groups.isDisjoint(with: technicianGroups) { return .technician }
        if !peer.groups.isDisjoint(with: districtGroups) { return .district }
        if !peer.groups.isDisjoint(with: managerGroups) { return .manager }
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
