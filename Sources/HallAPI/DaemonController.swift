import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird

/// `/v1/info` and `/v1/health`.
struct DaemonController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/info") { _, context in
            let info = services.info
            return InfoResponse(
                name: "halld", version: info.version, uptimeSeconds: Date().timeIntervalSince(info.startedAt).rounded(toPlaces: 3),
                socket: info.socket, stateDir: info.stateDir, role: context.role, uid: context.peer?.uid, pid: context.peer?.pid,
                lastEventSeq: try await services.events.lastSequence())
        }
        router.get("/v1/health") { _, _ in
            let snapshots = await services.registry.snapshots()
            var counts: [String: Int] = [:]
            var reasons: [String] = []
            for s in snapshots {
                counts[s.status.state.rawValue, default: 0] += 1
                if s.status.state != .online || !s.status.reasons.isEmpty {
                    reasons.append("\(s.id): \(s.status.state.rawValue)\(s.status.reasons.isEmpty ? "" : " " + s.status.reasons.joined(separator: ", "))")
                }
            }
            // A shared hall's store lost is a reason, not unreadiness: devices work on.
            if let unavailable = services.hallUnavailable?() { reasons.append("hall: \(unavailable)") }
            let ready = await services.registry.allAttempted
            if !ready { reasons.insert("devices are still being opened", at: 0) }
            let body = HealthResponse(status: ready ? "ready" : "starting", devices: counts, reasons: reasons)
            return jsonResponse(body, status: ready ? .ok : .serviceUnavailable)
        }
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let f = pow(10.0, Double(places))
        return (self * f).rounded() / f
    }
}
