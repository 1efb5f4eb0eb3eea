/// The hall-bus protocol seen in service halls on RS-485 (9600 8N1): frames of
/// `FrameProfile.hallBus`, with these commands.
public enum HallBus {
    /// Host to device.
    public enum HostCommand: UInt16, Sendable {
        /// Asks a device for what it has to say: a key, a rating, or nothing (answer `00`).
        case poll = 0x00
        /// `01 0B`: the evaluator lights up and waits for a rating.
        case evaluation = 0x01
        /// `02 text`: show numbers or text (GB2312).
        case show = 0x02
        /// `03`: beep.
        case beep = 0x03
    }

    /// Device to host.
    public enum DeviceCommand: UInt16, Sendable, CaseIterable {
        /// Nothing to report (answer to a poll, or an acknowledgement).
        case idle = 0x00
        /// Caller keys.
        case requestEvaluation = 0x0B, call = 0x0C, recall = 0x0D, cancel = 0x0E, confirm = 0x0F, pause = 0x12, transfer = 0x13
        /// Evaluator result: data is the key index (1 = first key).
        case evaluation = 0x11

        /// The caller key's name in events (`keypad.key`).
        public var keyName: String? {
            switch self {
            case .requestEvaluation: "requestEvaluation"
            case .call: "call"
            case .recall: "recall"
            case .cancel: "cancel"
            case .confirm: "confirm"
            case .pause: "pause"
            case .transfer: "transfer"
            case .idle, .evaluation: nil
            }
        }
    }

    /// Data byte of `01` that starts an evaluation.
    public static let startEvaluation: UInt8 = 0x0B

    public static func frame(to address: UInt8, _ command: HostCommand, _ payload: [UInt8] = []) -> [UInt8] {
        FrameProfile.hallBus.encode(Frame(address: UInt16(address), command: command.rawValue, payload: payload))
    }
}
