import ArgumentParser
import Foundation
import HallConfiguration
import HallDaemon
import Logging

extension LogFormat: ExpressibleByArgument {}

/// halld: the device daemon of a service hall.
@main
struct Halld: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "halld",
        abstract: "Device daemon for service halls: scanners, printers, evaluation keypads and queue displays behind one API on a Unix socket.",
        version: Daemon.version)

    @Option(help: "Configuration file (TOML).")
    var config = "/etc/halld/halld.toml"

    @Option(help: "Unix socket path; overrides api.socket.")
    var socket: String?

    @Option(help: "State folder (database, scan spool); overrides storage.state_dir.")
    var stateDir: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical; overrides log.level.")
    var logLevel: String?

    @Option(help: "Log output: auto (journald under systemd, text otherwise), text, json (one object a line), journal.")
    var logFormat: LogFormat = .auto

    @Flag(help: "Check the configuration and exit: 0 when valid, 78 with the problem otherwise.")
    var checkConfig = false

    func run() async throws {
        // A peer that goes away mid-write is an EPIPE error, never the end of halld
        // (before any library that saves and restores SIGPIPE's action runs).
        signal(SIGPIPE, SIG_IGN)
        var settings: HallConfig
        do {
            settings = try HallConfig.load(file: config)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("halld: configuration error: \(error)\n".utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        if let socket { settings.socket = (socket as NSString).standardizingPath.hasPrefix("/") ? socket : FileManager.default.currentDirectoryPath + "/" + socket }
        if let stateDir { settings.stateDir = stateDir.hasPrefix("/") ? stateDir : FileManager.default.currentDirectoryPath + "/" + stateDir }
        if let logLevel {
            guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))") }
            settings.logLevel = logLevel
        }
        if checkConfig {
            FileHandle.standardOutput.write(Data("\(config): valid, \(settings.devices.count) devices, socket \(settings.socket), state \(settings.stateDir)\n".utf8))
            return
        }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        // HALLD_JOURNAL_SOCKET stands in for journald's socket (tests, containers).
        let journal = ProcessInfo.processInfo.environment["HALLD_JOURNAL_SOCKET"] ?? LogFormat.journalSocket
        LoggingSystem.bootstrap(LogFormat.factory(logFormat, level: level, journalSocket: journal))
        let logger = Logger(label: "halld")
        do {
            try await Daemon(config: settings, logger: logger).run()
        } catch {
            logger.critical("halld stopped on an error: \(error)")
            throw ExitCode(1)
        }
    }
}
