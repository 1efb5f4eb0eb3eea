import Foundation
import HallAPIModels
import Hummingbird
import NIOCore

/// The request context: who is calling (from the socket's peer credentials) and
/// with which role.
public struct HallRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection's channel: where the peer credentials come from.
    public let channel: any Channel
    public var peer: PeerIdentity?
    public var role: Role = .none
    /// A command over the bridge's WebSocket, run through the routes: its answer is
    /// collected, not streamed on `channel`.
    public var isBridgeCommand = false

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Request bodies: JSON objects with no field the request type does not have.
    public var requestDecoder: StrictRequestDecoder { StrictRequestDecoder() }

    /// Sorted keys, unescaped slashes: answers read the same every time.
    public var responseEncoder: JSONEncoder { jsonEncoder }

    /// Print bodies can be documents; JSON bodies are read with a smaller limit.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }

    /// Throws `403 notAuthorized` unless the caller's role is at least `minimum`.
    public func require(_ minimum: Role, to action: String) throws {
        guard role >= minimum else {
            throw APIError.notAuthorized("\(action) needs the \(minimum.rawValue) role; this connection is \(role.rawValue)\(peer.map { " (uid \($0.uid))" } ?? "")")
        }
    }
}
