import DeviceKit
import Foundation
import HallModel

/// 服务双岗: a service with citizens waiting and no open window serving it (during its
/// hours) is unstaffed: an event names its A and B posts, and the main display says so,
/// until a window opens for it.
extension Hall {
    /// Whether an open window of the hall (with a clerk signed in, once there is a
    /// roster) serves `service`.
    func isStaffed(_ service: String) -> Bool {
        windowList().contains { w in
            w.state == .open && (w.services.isEmpty || w.services.contains(service)) && (!hasRoster || w.clerk != nil)
        }
    }

    /// Looks at every service; announces the ones that become unstaffed or staffed again
    /// (after issues and window changes, and every minute for opening hours and calls).
    public func checkStaffing() async {
        rollDay()
        let now = now()
        var changed = false
        for s in setup.services {
            let open = phase(s, at: now) != .closed
            let unstaffed = open && (waiting[s.code] ?? 0) > 0 && !isStaffed(s.code)
            guard unstaffed != unstaffedServices.contains(s.code) else { continue }
            changed = true
            if unstaffed {
                unstaffedServices.insert(s.code)
                let posts = [("postA", s.postA), ("postB", s.postB)].map { key, id in
                    (key, id.map { id in JSONValue.object(["staffId": .string(id), "name": roster[id].map { .string($0.name) } ?? .null]) } ?? .null)
                }
                logger.notice("service \(s.code) \(s.name) has \(waiting[s.code] ?? 0) waiting and no open window: A post \(s.postA ?? "-"), B post \(s.postB ?? "-")")
                await publish(
                    NewEvent(
                        type: "service.unstaffed",
                        data: .object(
                            ["service": .string(s.code), "name": .string(s.name), "waiting": .number(Double(waiting[s.code] ?? 0))].merging(posts) { a, _ in a })))
            } else {
                unstaffedServices.remove(s.code)
                await publish(NewEvent(type: "service.staffed", data: ["service": .string(s.code), "name": .string(s.name)]))
            }
        }
        if changed { await refreshMainDisplay() }
    }

    /// The main display's lines about unstaffed services: `社会保障 暂无窗口 A岗李娜`.
    var unstaffedLines: [String] {
        setup.services.filter { unstaffedServices.contains($0.code) }.map { s in
            let post = [s.postA, s.postB].compactMap { $0 }.first.map { id in " A岗" + (roster[id]?.name ?? id) } ?? ""
            return "\(s.name) 暂无窗口\(post)"
        }
    }
}
