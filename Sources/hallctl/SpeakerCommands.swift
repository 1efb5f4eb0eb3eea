import ArgumentParser
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import ChildProcess
import HallConfiguration
import WireProtocols

enum SpeakerCommands {
    /// The speaker to use: the one given, or the only speaker halld has.
    static func speaker(_ given: String?, _ client: HallClient) async throws -> String {
    if let given { return given }
    let devices: [DeviceSummary] = try await client.call("GET", "/v1/devices?kind=speaker")
    guard devices.count == 1 else {
        throw ValidationError(devices.isEmpty ? "halld has no speaker" : "halld has \(devices.count) speakers (\(devices.map(\.id.rawValue).joined(separator: ", "))): give --speaker")
    }
    return devices[0].id.rawValue
    }
}

struct Say: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say a text on a speaker, after the chime, queued behind the calls (clerk, technician).",
        discussion: "hallctl say '请带好随身物品' --repeat 2")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "What to say.") var text: String
    @Option(help: "Speaker id (default: the only speaker).") var speaker: String?
    @Option(name: .customLong("repeat"), help: "Times it is said (1-5).") var repeats: Int = 1

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let id = try await SpeakerCommands.speaker(speaker, client)
            let a: Announcement = try await client.call("POST", "/v1/speakers/\(id)/announcements", json: AnnouncementRequest(text: text, repeat: repeats))
            try global.show(a) { "\($0.id) queued on \(id): \($0.text)" }
        }
    }
}

struct Announcements: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A speaker's announcements: playing, queued, and the last ones said, failed or dropped.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Speaker id (default: the only speaker).") var speaker: String?

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let id = try await SpeakerCommands.speaker(speaker, client)
            let q: AnnouncementQueue = try await client.call("GET", "/v1/speakers/\(id)/announcements")
            try global.show(q) { q in
                let rows = ([q.playing].compactMap { $0 } + q.queued + q.recent).map { a in
                    [a.state.rawValue, a.kind.rawValue, a.startedAt ?? a.queuedAt, a.text + (a.error.map { "  (\($0))" } ?? "")]
                }
                return "\(id): voice \(q.voice), \(q.queued.count) of \(q.maxQueued) queued\n" + Output.table(["STATE", "KIND", "TIME", "TEXT"], rows)
            }
        }
    }
}

struct VoiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voice", abstract: "Clip voices for speakers.", subcommands: [Make.self])

    struct Make: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a complete clip folder with espeak-ng (请 号 到 窗口 办理, 0-9, A-Z, the services' names, chime.wav).",
            discussion: """
                Replace any clip with a recording of the same name later (16-bit PCM WAV, mono or stereo).
                Clips already in the folder are kept unless --force. Then: voice = "clips:DIR" on the speaker.
                Runs the espeak-ng program (apt install espeak-ng): hallctl links no sound library.
                """)
        @Argument(help: "The folder to write.") var directory: String
        @Option(help: "halld.toml whose [[hall.service]] names get a clip each.") var config: String?
        @Flag(help: "Overwrite clips already there (recordings too).") var force = false

        func run() async throws {
            let espeak = "/usr/bin/espeak-ng"
            guard FileManager.default.isExecutableFile(atPath: espeak) else {
                throw ValidationError("\(espeak) is missing: apt install espeak-ng")
            }
            var services: [String] = []
            if let config {
                services = try HallConfig.load(file: config).hall?.services.map(\.name) ?? []
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var written = 0, kept = 0
            for name in SpokenWords.callClipNames(extra: services) + ["chime"] {
                let path = (directory as NSString).appendingPathComponent("\(name).wav")
                if !force, FileManager.default.fileExists(atPath: path) {
                    kept += 1
                    continue
                }
                if name == "chime" {
                    try WAV.encode(PCMAudio.chime()).write(to: URL(fileURLWithPath: path))
                } else {
                    let r = try await runCommandSplit([espeak, "-v", "cmn", "-s", "150", "-w", path, SpokenWords.digitsSpelled(name)], within: .seconds(30))
                    guard r.status == 0 else { throw ValidationError("espeak-ng could not say \"\(name)\": \(r.err.trimmingCharacters(in: .whitespacesAndNewlines))") }
                }
                written += 1
            }
            Output.line("\(directory): \(written) clips written with espeak-ng\(kept > 0 ? ", \(kept) already there kept (--force overwrites)" : "")")
        }
    }
}
