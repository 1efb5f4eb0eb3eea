import DeviceKit
import Foundation
import HallModel

/// 好差评: the window keypad asked after each completed service, one rating per
/// service whatever the channel, and nothing the citizen pressed lost without a trace.
extension Hall {
    func askRating(_ t: Ticket, keypad id: DeviceID) {
        let timeout = setup.ratingTimeout
        // The citizen before has left the window: their request ends (stored as not
        // rated) before the keypad asks the next one, who must not inherit "busy".
        let previous = keypadAsking[id].flatMap { ratingTasks[$0] }
        previous?.cancel()
        keypadAsking[id] = t.id
        ratingTasks[t.id] = Task { [registry] in
            await previous?.value
            let level: RatingLevel?
            if Task.isCancelled {
                level = nil
            } else if let keypad = await registry.device(id) as? any EvaluationKeypad {
                do {
                    // The clerk's program shows 请评价 from this event until the rating or the deadline.
                    await self.publishRatingRequested(t, keypad: id, timeout: timeout)
                    level = try await keypad.requestRating(ticket: t.number, timeout: timeout)
                } catch {
                    logger.info("no rating for \(t.number): \(error)")
                    level = nil
                }
            } else {
                level = nil
            }
            // Stored even when this request was ended early: a fresh task, as a
            // cancelled one would have its database write refused.
            await Task { await self.storeKeypadRating(t, level: level, keypad: id) }.value
            await self.ratingDone(t.id, keypad: id)
        }
    }

    private func publishRatingRequested(_ t: Ticket, keypad: DeviceID, timeout: Duration) async {
        let deadline = now().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        await publish(
            NewEvent(
                type: EventType.ratingRequested, device: keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": t.window.map { .number(Double($0)) } ?? .null,
                    "keypad": .string(keypad.rawValue), "deadline": .string(Timestamp.string(deadline)),
                ]))
    }

    /// Stores what the citizen pressed (or that they did not rate). A write that
    /// fails is tried again after each of `ratingRetryDelays`; one that still fails
    /// is logged at error with everything pressed, published as `rating.failed` and
    /// counted: nothing the citizen pressed disappears without a trace.
    private func storeKeypadRating(_ t: Ticket, level: RatingLevel?, keypad: DeviceID) async {
        var lastError: (any Error)?
        for attempt in 0...ratingRetryDelays.count {
            if attempt > 0 { try? await Task.sleep(for: ratingRetryDelays[attempt - 1]) }
            do {
                try await rate(t.id, level: level, channel: "evaluator")
                return
            } catch let e as HallError where e.code == .conflict || e.code == .sequenceError || e.code == .notFound {
                // Rated another way first, or no longer ratable: nothing is lost.
                logger.info("keypad rating of \(t.number) not stored: \(e.message)")
                return
            } catch {
                lastError = error
                ratingWriteFailures += 1
                logger.warning(
                    "storing the rating of \(t.number) failed (try \(attempt + 1) of \(ratingRetryDelays.count + 1)): \(error)",
                    metadata: ["ticket": "\(t.id)", "device": "\(keypad)"])
            }
        }
        ratingsLost += 1
        let error = lastError.map { "\($0)" } ?? "unknown"
        logger.error(
            "the rating of \(t.number) could not be stored: level \(level?.rawValue ?? "none"), window \(t.window.map(String.init) ?? "?"): \(error)",
            metadata: ["ticket": "\(t.id)", "device": "\(keypad)", "window": "\(t.window.map(String.init) ?? "")"])
        await publish(
            NewEvent(
                type: EventType.ratingFailed, device: keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": t.window.map { .number(Double($0)) } ?? .null,
                    "level": level.map { .string($0.rawValue) } ?? .null, "error": .string(error),
                ]))
    }

    private func ratingDone(_ ticket: String, keypad: DeviceID) {
        ratingTasks[ticket] = nil
        if keypadAsking[keypad] == ticket { keypadAsking[keypad] = nil }
    }

    /// Waits for the rating requests under way (tests, shutdown).
    public func settleRatings() async {
        for task in ratingTasks.values { await task.value }
    }

    /// Stores the one rating of a completed ticket; a second is a `conflict`.
    @discardableResult
    public func rate(_ idOrNumber: String, level: RatingLevel?, channel: String) async throws -> Rating {
        guard let t = ticket(idOrNumber) else { throw HallError.notFound("no ticket '\(idOrNumber)' today") }
        let window = try machine.ratable(t)
        let rating = Rating(
            ticket: t.id, number: t.number, service: t.service, window: window, clerk: t.clerk, level: level, stars: level?.stars, time: now(), channel: channel, staffId: t.staffId)
        do {
            try await store.saveRating(rating)
        } catch HallStoreError.alreadyRated {
            throw HallError.conflict("\(t.number) is already rated: one rating per service (一次一评)")
        }
        // Rated another way (app, SMS, paper): the keypad stops asking.
        if channel != "evaluator" { ratingTasks[t.id]?.cancel() }
        await openFollowUp(for: rating)
        await publish(
            NewEvent(
                type: EventType.keypadRating, device: setup.window(window)?.keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": .number(Double(window)), "channel": .string(channel),
                    "level": level.map { .string($0.rawValue) } ?? .null, "rated": .bool(level != nil),
                ]))
        return rating
    }

    public func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] {
        try await store.ratings(from: from, to: to, window: window)
    }
}
