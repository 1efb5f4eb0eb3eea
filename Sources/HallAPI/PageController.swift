import Foundation
import HallAPIModels
import HTTPTypes
import Hummingbird

/// The bridge's pages, from files in Sources/HallAPI/Pages embedded in the binary:
/// `/board` (the hall board, 大厅综合屏, for a TV), `/window/{n}` (a window screen,
/// 窗口屏) and `/bridge/halld.js` (the JavaScript client they use). Static: each page
/// reads the hall through the API with the token in its address and follows it on
/// /v1/ws. On the bridge they need a token like everything else (`?token=`).
struct PageController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/board") { _, _ in Self.page(PackageResources.board_html, type: "text/html; charset=utf-8") }
        router.get("/window/{n}") { _, context in
            guard let n = context.parameters.get("n", as: Int.self), n > 0 else {
                throw APIError.invalidData("a window number (1, 2 …) is expected in /window/{n}", field: "n")
            }
            if let hall = services.hall, await !hall.windowList().contains(where: { $0.number == n }) {
                throw APIError.notFound("no window \(n) in this hall")
            }
            return Self.page(PackageResources.window_html, type: "text/html; charset=utf-8")
        }
        router.get("/console") { _, context in
            try context.require(.technician, to: "the technician console")
            return Self.page(PackageResources.console_html, type: "text/html; charset=utf-8")
        }
        // A clerk card's photo: a file name under STATE_DIR/photos (JPEG or PNG), for the screens.
        router.get("/photos/{file}") { _, context in
            let file = context.parameters.get("file") ?? ""
            let lower = file.lowercased()
            let type = lower.hasSuffix(".png") ? "image/png" : lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") ? "image/jpeg" : nil
            guard let type, !file.hasPrefix("."), file.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw APIError.invalidData("a photo is a JPEG or PNG file name under the state folder's photos/ (letters, digits, . _ -)", field: "file")
            }
            let path = (services.info.stateDir as NSString).appendingPathComponent("photos/" + file)
            do {
                let body = try await FileIO().loadFile(path: path, context: context)
                return Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: body)
            } catch {
                throw APIError.notFound("no photo '\(file)' in the state folder's photos/")
            }
        }
        router.get("/bridge/halld.js") { _, _ in Self.page(PackageResources.halld_js, type: "text/javascript; charset=utf-8") }
    }

    static func page(_ bytes: [UInt8], type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-cache",
                // The pages load only what halld serves; nothing from elsewhere.
                .contentSecurityPolicy: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:",
                .xContentTypeOptions: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
