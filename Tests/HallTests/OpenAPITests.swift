import DeviceKit
import Foundation
import Jobs
import Hall
import SQLiteStore
import Hummingbird
import Testing

@testable import HallAPI

@Suite("openapi.yaml", .timeLimit(.minutes(3)))
struct OpenAPITests {
    /// `METHOD /path` pairs under `paths:` (two-space path keys, four-space method keys).
    static func documentedRoutes() throws -> Set<String> {
        let text = try String(contentsOfFile: repositoryRoot + "/openapi.yaml", encoding: .utf8)
        var routes: Set<String> = [], path: String?, inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths, let first = line.first, first != " " { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" })
            {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    @Test("every route the server has is documented, and every documented route exists")
    func parity() async throws {
        let database = try HallDatabase.inMemory()
        let events = EventLog(store: database)
        let registry = DeviceRegistry(devices: [], events: events, logger: testLogger)
        let services = APIServices(
            registry: registry, events: events, jobs: JobBoard(registry: registry, events: events, spool: ScanSpool(directory: "/nonexistent"), logger: testLogger),
            roles: RoleMap(), info: .init(version: "test", socket: "", stateDir: ""))
        let served = Set(buildRouter(services).routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let documented = try Self.documentedRoutes()
        #expect(documented.count >= 17)
        #expect(served.subtracting(documented).sorted() == [], "served but not in openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "in openapi.yaml but not served")
    }
}
