import ArgumentParser
import Foundation
import HallAPIModels
import HallClient

/// `hallctl bridge token create|list|revoke`: tokens of the web applications that use
/// the browser bridge.
struct BridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge", abstract: "The browser bridge for web front-ends ([bridge] listen).", subcommands: [TokenCommand.self])

    struct Console: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open the technician console: prints a one-time address (two minutes, once) to open in a browser on this PC.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let opened: ConsoleOpened = try await global.client.call("POST", "/v1/bridge/console")
                try global.show(opened) { "\($0.url)\n(open it within two minutes, once; the session lasts up to 8 hours)" }
            }
        }
    }

    struct TokenCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token", abstract: "Tokens of web applications: each with a role and the origins whose pages may use it.",
            subcommands: [Create.self, List.self, Revoke.self])
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (this once: halld keeps only its hash).",
            discussion: "hallctl bridge token create --name 一窗受理 --role clerk --origin https://yc.example.gov.cn")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The web application's name.") var name: String
        @Option(help: "kiosk, clerk or display (reads the hall, changes nothing).") var role: String
        @Option(help: "A web origin whose pages may use the token (repeat for more).") var origin: [String] = []

        func run() async throws {
            guard let r = Role(rawValue: role) else { throw ValidationError("--role: kiosk, clerk or display") }
            try await reportingErrors {
                let created: BridgeTokenCreated = try await global.client.call(
                    "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: name, role: r, origins: origin))
                try global.show(created) { c in
                    "\(c.token)\n(token '\(c.name)', \(c.role.rawValue), for \(c.origins.joined(separator: ", ")): shown once, keep it in the application's settings)"
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The bridge's tokens (never their secrets).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let tokens: [BridgeTokenInfo] = try await global.client.call("GET", "/v1/bridge/tokens")
                try global.show(tokens) { list in
                    list.isEmpty ? "no bridge tokens" : list.map { "\($0.name)  \($0.role.rawValue)  \($0.origins.joined(separator: " "))  created \($0.createdAt)" }.joined(separator: "\n")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: its pages are refused from the next request on.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The token's name.") var name: String

        func run() async throws {
            try await reportingErrors {
                let path = "/v1/bridge/tokens/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? name)
                let reply = try await global.client.send("DELETE", path)
                guard reply.status == 204 else { _ = try HallClient.decode(reply, as: JSONValue.self); return }
                Output.line("revoked '\(name)'")
            }
        }
    }
}
