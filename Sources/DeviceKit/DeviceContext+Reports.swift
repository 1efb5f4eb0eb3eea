/// Reports every driver of a kind makes the same way.
extension DeviceContext {
    /// A rating answered a request: the `ratings` counter and a `keypad.rating` event.
    public func reportRating(_ level: RatingLevel, ticket: String?) {
        report(.count(.ratings, 1))
        report(
            .event(
                type: EventType.keypadRating,
                data: ["ticket": ticket.map { .string($0) } ?? .null, "level": .string(level.rawValue), "label": .string(level.label), "stars": .number(Double(level.stars))]))
    }

    /// A display now shows `content`: a `display.content` event.
    public func reportShown(_ content: DisplayContent) {
        report(
            .event(
                type: EventType.displayContent,
                data: ["lines": .array(content.lines.map { .string($0) }), "effect": .string(content.effect.rawValue), "seconds": content.seconds.map { .number(Double($0)) } ?? .null]))
    }
}

extension EvaluationKeypad {
    /// Waits for the key that answers a rating request, reports it, and turns a
    /// deadline or a cancellation into `timeOut` or `canceled`.
    public func awaitRating(_ answer: OneShot<RatingLevel>, ticket: String?, timeout: Duration, clock: any Clock<Duration>, context: DeviceContext?) async throws -> RatingLevel {
        do {
            guard let level = try await withDeadline(timeout, clock: clock, { try await answer.wait() }) else {
                throw DeviceError(.timeOut, "no key pressed on \(id) within \(timeout)", device: id)
            }
            context?.reportRating(level, ticket: ticket)
            return level
        } catch is CancellationError {
            throw DeviceError(.canceled, "rating request on \(id) canceled", device: id)
        }
    }
}
