/// The five 好差评 levels, best first. The raw value is the API's word; `label`
/// is what the citizen reads on the keypad.
public enum RatingLevel: String, Sendable, Codable, CaseIterable {
    case verySatisfied, satisfied, basicallySatisfied, dissatisfied, veryDissatisfied

    /// 非常满意 … 非常不满意.
    public var label: String {
        switch self {
        case .verySatisfied: "非常满意"
        case .satisfied: "满意"
        case .basicallySatisfied: "基本满意"
        case .dissatisfied: "不满意"
        case .veryDissatisfied: "非常不满意"
        }
    }

    /// 5 stars for 非常满意 down to 1 for 非常不满意.
    public var stars: Int { 5 - (RatingLevel.allCases.firstIndex(of: self) ?? 0) }

    /// A bad rating needs follow-up within the local deadline.
    public var needsFollowUp: Bool { self == .dissatisfied || self == .veryDissatisfied }

    /// Reads the API word, the Chinese label, or a star count 1…5.
    public init?(parsing text: String) {
        if let l = RatingLevel(rawValue: text) { self = l; return }
        if let l = RatingLevel.allCases.first(where: { $0.label == text }) { self = l; return }
        if let n = Int(text), let l = RatingLevel.allCases.first(where: { $0.stars == n }) { self = l; return }
        return nil
    }
}

/// An evaluation keypad (评价器). One rating per request: presses before a request
/// or after its answer are reported as keys but rate nothing.
public protocol EvaluationKeypad: Device {
    /// Asks the citizen to rate. Returns the level, or throws `timeOut` when no
    /// key came in time and `canceled` when the task is cancelled.
    func requestRating(ticket: String?, timeout: Duration) async throws -> RatingLevel
}

/// A keypad whose keys software can press: the simulated keypads of `make run` and the
/// tests (`POST /v1/keypads/{id}/press`). A real keypad is pressed by a person.
public protocol KeyPressable: EvaluationKeypad {
    /// Presses the key of `level`; true when it answered a rating request.
    func press(_ level: RatingLevel) async throws -> Bool
}
