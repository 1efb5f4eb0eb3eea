/// What the command codes of a framed protocol mean, declared beside its
/// `FrameProfile` in configuration: which command polls, which shows text, which
/// starts an evaluation, which answers carry a rating or a caller key. With a
/// profile this is all a vendor's keypad or LED display needs; hall-bus is the
/// built-in `hallBus`.
public struct FrameCommands: Sendable, Equatable {
    /// Host: asks a device for what it has to say. The device answers `idle` or a report.
    public var poll: UInt16
    /// Device: nothing to report, or "done" after a host command.
    public var idle: UInt16
    /// Host: show text. The payload is the effect byte (when `effectCodes` is not
    /// empty) and the lines in the profile's encoding, separated by `lineSeparator`.
    public var show: UInt16
    /// Effect bytes for static, scroll and flash, in that order; fewer entries mean
    /// fewer effects; empty: no effect byte, static text only.
    public var effectCodes: [UInt8]
    public var lineSeparator: [UInt8]
    /// Host: light up the evaluator and wait for a rating; its payload.
    public var evaluate: UInt16
    public var evaluateData: [UInt8]
    /// Device: a rating; the first payload byte is the key index (1 = first key).
    public var rating: UInt16
    /// Host: beep (the external health check), or nil when the device has none.
    public var beep: UInt16?
    /// Device: caller keys by name (call, recall, pause, transfer, …).
    public var keys: [String: UInt16]

    public init(
        poll: UInt16, idle: UInt16, show: UInt16, effectCodes: [UInt8] = [], lineSeparator: [UInt8] = [0x0A], evaluate: UInt16, evaluateData: [UInt8] = [],
        rating: UInt16, beep: UInt16? = nil, keys: [String: UInt16] = [:]
    ) {
        self.poll = poll
        self.idle = idle
        self.show = show
        self.effectCodes = effectCodes
        self.lineSeparator = lineSeparator
        self.evaluate = evaluate
        self.evaluateData = evaluateData
        self.rating = rating
        self.beep = beep
        self.keys = keys
    }

    /// The hall-bus meanings (see `HallBus`).
    public static let hallBus = FrameCommands(
        poll: HallBus.HostCommand.poll.rawValue, idle: HallBus.DeviceCommand.idle.rawValue, show: HallBus.HostCommand.show.rawValue,
        effectCodes: [0, 1, 2], lineSeparator: [0x0A], evaluate: HallBus.HostCommand.evaluation.rawValue, evaluateData: [HallBus.startEvaluation],
        rating: HallBus.DeviceCommand.evaluation.rawValue, beep: HallBus.HostCommand.beep.rawValue,
        keys: Dictionary(uniqueKeysWithValues: HallBus.DeviceCommand.allCases.compactMap { c in c.keyName.map { ($0, c.rawValue) } }))

    /// The caller key a device command stands for.
    public func keyName(_ command: UInt16) -> String? { keys.first { $0.value == command }?.key }

    /// A problem with the commands, found when they are read from configuration.
    /// A keypad needs its idle, rating and key answers told apart.
    public func validate(_ profile: FrameProfile, keypad: Bool) -> String? {
        let limit = profile.commandWidth == 0 ? 0 : (1 << (8 * profile.commandWidth)) - 1
        let named: [(String, UInt16)] = [("poll", poll), ("idle", idle), ("show", show), ("evaluate", evaluate), ("rating", rating)]
            + (beep.map { [("beep", $0)] } ?? []) + keys.sorted { $0.key < $1.key }.map { ("keys.\($0.key)", $0.value) }
        if let (name, value) = named.first(where: { Int($0.1) > limit }) {
            return "\(name) = \(value) does not fit a command of \(profile.commandWidth) byte(s)"
        }
        if effectCodes.count > 3 { return "effect_codes has at most three entries (static, scroll, flash)" }
        guard keypad else { return nil }
        if idle == rating { return "idle and rating need different commands" }
        if let key = keys.first(where: { $0.value == idle || $0.value == rating }) {
            return "keys.\(key.key) uses the command of idle or rating"
        }
        return nil
    }
}
