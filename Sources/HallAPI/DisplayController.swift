import DeviceKit
import HallAPIModels
import Hummingbird

/// What a display shows: set and read its content.
struct DisplayController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.put("/v1/displays/{id}/content") { request, context in
            try context.require(.clerk, to: "changing a display")
            let display = try await display(context)
            let content = try await request.decode(as: DisplayContent.self, context: context)
            if let seconds = content.seconds, !(1...86_400).contains(seconds) {
                throw APIError.invalidData("seconds must be 1 to 86400, not \(seconds)", field: "seconds")
            }
            if content.lines.isEmpty { throw APIError.invalidData("lines must hold at least one line", field: "lines") }
            try await display.show(content)
            return content
        }
        router.get("/v1/displays/{id}/content") { _, context in
            let display = try await display(context)
            return await display.content() ?? DisplayContent(lines: [])
        }
    }

    private func display(_ context: HallRequestContext) async throws -> any QueueDisplay {
        let id = try context.parameters.deviceID()
        guard let device = await services.registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
        guard let display = device as? any QueueDisplay else {
            throw APIError(.conflict, .unsupportedCommand, "\(id) is a \(device.kind.rawValue), not a display", device: id)
        }
        return display
    }
}
