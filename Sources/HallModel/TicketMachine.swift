import Foundation

/// What the hall does after a ticket's new state is stored.
public enum TicketAction: Sendable, Equatable {
    /// The window now serves this ticket.
    case occupy(window: Int)
    /// The window serves nobody now.
    case free(window: Int)
    /// Say the call on the window's display and the main display.
    case announceCall(window: Int)
    /// Publish an event of this type carrying the ticket (and the recall count).
    case publish(String, recall: Int? = nil)
    /// Ask the window's keypad for the rating of this service (一次一评).
    case askRating(window: Int)
}

/// A ticket's life as a pure rule: each transition checks that it is allowed from the
/// ticket's state, and returns the new ticket and the actions to take once it is
/// stored. No I/O, no clock: the time is an argument.
///
///     waiting ──call──► called ──complete──► done
///        ▲                │  └──noShow────► noShow
///        └──transfer──────┘  (recall: called again, at most `recallMax` times)
public struct TicketMachine: Sendable {
    public struct Transition: Sendable, Equatable {
        public var ticket: Ticket
        public var actions: [TicketAction]
    }

    public var recallMax: Int
    public var recallMinInterval: Duration

    public init(recallMax: Int, recallMinInterval: Duration) {
        self.recallMax = recallMax
        self.recallMinInterval = recallMinInterval
    }

    public init(_ setup: HallSetup) {
        self.init(recallMax: setup.recallMax, recallMinInterval: setup.recallMinInterval)
    }

    /// `window` calls `ticket`, which must be waiting; `busy` is what the window is
    /// still serving.
    public func call(_ ticket: Ticket, window: Int, busy: Ticket?, clerk: String?, staffId: String? = nil, at now: Date) throws(HallError) -> Transition {
        try ensureFree(window, busy: busy)
        guard ticket.state == .waiting else { throw .notNow("\(ticket.number) is \(ticket.state.rawValue): only a waiting ticket is called") }
        var t = ticket
        t.state = .called
        t.calledAt = now
        t.window = window
        t.clerk = clerk
        t.staffId = staffId
        return Transition(ticket: t, actions: [.occupy(window: window), .announceCall(window: window), .publish("ticket.called")])
    }

    /// A window calls only when the ticket it had is finished or transferred.
    public func ensureFree(_ window: Int, busy: Ticket?) throws(HallError) {
        if let busy, busy.state.isAtWindow {
            throw .notNow("window \(window) is still serving \(busy.number): complete, no-show or transfer it first")
        }
    }

    /// Calls the window's called ticket again; `lastCall` is when it was last called.
    public func recall(_ current: Ticket?, window: Int, lastCall: Date?, at now: Date) throws(HallError) -> Transition {
        guard var t = current, t.state == .called else { throw .notNow("window \(window) has no called ticket to recall") }
        guard t.recalls < recallMax else {
            throw .notNow("\(t.number) was recalled \(t.recalls) times (at most \(recallMax)): mark it no-show")
        }
        let minimum = Double(recallMinInterval.components.seconds)
        if let last = lastCall ?? t.calledAt, now.timeIntervalSince(last) < minimum {
            throw .notNow("\(t.number) was called \(Int(now.timeIntervalSince(last))) s ago: recall after \(recallMinInterval.components.seconds) s")
        }
        t.recalls += 1
        return Transition(ticket: t, actions: [.occupy(window: window), .announceCall(window: window), .publish("ticket.called", recall: t.recalls)])
    }

    /// The citizen did not come: the called ticket ends as noShow.
    public func noShow(_ current: Ticket?, window: Int, at now: Date) throws(HallError) -> Transition {
        guard var t = current, t.state == .called else { throw .notNow("window \(window) has no called ticket") }
        t.state = .noShow
        t.finishedAt = now
        return Transition(ticket: t, actions: [.free(window: window), .publish("ticket.finished")])
    }

    /// Sends the ticket at the window to another service's queue, where it keeps its
    /// place by its original issue time.
    public func transfer(_ current: Ticket?, window: Int, to service: String) throws(HallError) -> Transition {
        guard var t = current, t.state.isAtWindow else { throw .notNow("window \(window) is serving nobody") }
        guard service != t.service else { throw .invalid("\(t.number) is already in service \(service)", field: "service") }
        t.transferredFrom = t.service
        t.service = service
        t.state = .waiting
        t.queuedAt = t.issuedAt
        t.window = nil
        t.calledAt = nil
        t.recalls = 0
        return Transition(ticket: t, actions: [.free(window: window), .publish("ticket.transferred")])
    }

    /// The service is done; the window's keypad asks for the rating.
    public func complete(_ current: Ticket?, window: Int, at now: Date) throws(HallError) -> Transition {
        guard var t = current, t.state.isAtWindow else { throw .notNow("window \(window) is serving nobody") }
        t.state = .done
        t.finishedAt = now
        return Transition(ticket: t, actions: [.free(window: window), .publish("ticket.finished"), .askRating(window: window)])
    }

    /// Whether `ticket` may be rated now: a completed service, at a window.
    public func ratable(_ ticket: Ticket) throws(HallError) -> Int {
        guard ticket.state == .done, let window = ticket.window else {
            throw .notNow("\(ticket.number) is \(ticket.state.rawValue): only a completed service is rated")
        }
        return window
    }
}

extension TicketState {
    /// Called or being served: the ticket occupies a window.
    public var isAtWindow: Bool { self == .called || self == .serving }
}
