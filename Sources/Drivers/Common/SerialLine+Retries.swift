import DeviceKit
import Transports
import WireProtocols

extension SerialLine {
    /// One request with retries, as every serial driver sends it: noise and silences
    /// are logged and counted as communication errors; after `retries` further silent
    /// tries it throws `timeOut` (state offline, communication-timeout-error).
    func request<R: AnswerReader>(
        _ bytes: [UInt8], timeout: Duration, retries: Int, reader: R, who: String, context: DeviceContext?
    ) async throws -> R.Answer {
        var attempt = 0
        while true {
            attempt += 1
            let outcome = try await exchange(bytes, timeout: timeout, reader: reader)
            let noise: [String]
            var answer: R.Answer?
            switch outcome {
            case .answer(let a, let n):
                (answer, noise) = (a, n)
            case .timeout(let n):
                noise = n
            }
            for line in noise {
                context?.logger.warning("line noise: \(line)")
                context?.report(.count(.communicationErrors, 1))
            }
            if let answer { return answer }
            context?.report(.count(.communicationErrors, 1))
            context?.logger.debug("no answer to \(hex(bytes)) (attempt \(attempt) of \(retries + 1))")
            if attempt > retries {
                throw DeviceError(.timeOut, "\(who) on \(path) did not answer \(retries + 1) times", reasons: [Reason.communicationTimeout], state: .offline)
            }
        }
    }
}
