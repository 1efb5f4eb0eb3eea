import DeviceKit
import Foundation
import HallModel

extension Hall {
    /// Issues a ticket, in the store before it returns; prints it on the kiosk printer when asked.
    public func issue(service requested: String?, priority: TicketPriority = .normal, appointment: String? = nil, print: Bool = false) async throws -> Ticket {
        rollDay()
        // An appointment is checked in within its window, whatever the hours (its slot is in them).
        let code: String
        if let appointment {
            code = try await checkIn(appointment, service: requested)
        } else {
            guard let requested else { throw HallError.invalid("give the service (or an appointment code)", field: "service") }
            code = requested
        }
        guard let service = setup.service(code) else {
            throw HallError.notFound("no service '\(code)' (services: \(setup.services.map(\.code).joined(separator: ", ")))", field: "service")
        }
        let at = now()
        if appointment == nil, phase(service, at: at) == .closed {
            throw HallError.notNow(closedMessage(service, at: at), field: "service")
        }
        var ticket: Ticket
        // The ticket and its event in one transaction where the store keeps the event log.
        var published = false
        do {
            let new = NewTicket(id: Self.newTicketID(), day: today, service: code, priority: priority, appointment: appointment, at: at, dailyCap: service.dailyCap)
            if let log = ticketLog {
                ticket = try await log.issue(new, event: { NewEvent(type: "ticket.issued", data: $0.jsonValue) })
                published = true
            } else {
                ticket = try await store.issueTicket(new)
            }
        } catch HallStoreError.dailyCapReached(let cap) {
            throw HallError.notNow("\(service.name) has issued its \(cap) tickets for today", field: "service")
        } catch HallStoreError.unknownAppointment {
            throw HallError.notFound("no appointment '\(appointment ?? "")' for service \(code)", field: "appointment")
        } catch HallStoreError.appointmentUsed(let used) {
            throw HallError.conflict("appointment '\(appointment ?? "")' was already checked in (ticket \(tickets[used]?.number ?? used))", field: "appointment")
        } catch HallStoreError.appointmentClosed(let state) {
            throw HallError.conflict("appointment '\(appointment ?? "")' is \(state.rawValue)", field: "appointment")
        }
        put(ticket)
        if !published { await publish("ticket.issued", ticket) }
        if unstaffedServices.isEmpty || !unstaffedServices.contains(code) { await checkStaffing() }
        // A new ordinary ticket is the last of its queue: everyone waiting is ahead
        // (no sorting or scanning of the queue on the hot path).
        let issued = priority == .normal && appointment == nil ? { var t = ticket; t.waitingAhead = (waiting[code] ?? 1) - 1; return t }() : withAhead(ticket)
        if print, let printer = setup.kioskPrinter, let printTicket {
            do {
                ticket.printJob = try await printTicket(issued, printer)
            } catch {
                ticket.printError = "\(error)"
                logger.warning("ticket \(ticket.number) not printed: \(error)")
            }
            try await save(ticket)
            var printed = issued
            printed.printJob = ticket.printJob
            printed.printError = ticket.printError
            return printed
        }
        return issued
    }

    /// A ticket's id: a random (version 4) UUID, lower case. From the system's random
    /// generator (getrandom), not Foundation's `UUID()`, which opened, read and closed
    /// /dev/urandom for every ticket.
    static func newTicketID() -> String {
        var random = SystemRandomNumberGenerator()
        let (a, b) = (random.next() as UInt64, random.next() as UInt64)
        let u = UUID(uuid: (
            UInt8(truncatingIfNeeded: a), UInt8(truncatingIfNeeded: a >> 8), UInt8(truncatingIfNeeded: a >> 16), UInt8(truncatingIfNeeded: a >> 24),
            UInt8(truncatingIfNeeded: a >> 32), UInt8(truncatingIfNeeded: a >> 40), UInt8(truncatingIfNeeded: a >> 48) & 0x0F | 0x40, UInt8(truncatingIfNeeded: a >> 56),
            UInt8(truncatingIfNeeded: b) & 0x3F | 0x80, UInt8(truncatingIfNeeded: b >> 8), UInt8(truncatingIfNeeded: b >> 16), UInt8(truncatingIfNeeded: b >> 24),
            UInt8(truncatingIfNeeded: b >> 32), UInt8(truncatingIfNeeded: b >> 40), UInt8(truncatingIfNeeded: b >> 48), UInt8(truncatingIfNeeded: b >> 56)))
        return u.uuidString.lowercased()
    }

    /// The window `n`, which must be open.
    func openWindow(_ n: Int) throws(HallError) -> (HallWindowConfig, HallWindow) {
        let (config, w) = try localWindow(n)
        guard w.state == .open else { throw .notNow("window \(n) is \(w.state.rawValue): open it first") }
        return (config, w)
    }

    /// The window `n` of this halld: a window another halld of the hall has is
    /// operated there, where its keypad and display are.
    func localWindow(_ n: Int) throws(HallError) -> (HallWindowConfig, HallWindow) {
        guard let config = setup.window(n), let w = windows[n] else {
            if remoteWindows[n] != nil {
                throw .conflict("window \(n) belongs to another halld of this hall: operate it on the PC at that window (windows here: \(setup.windows.map { String($0.number) }.joined(separator: ", ")))")
            }
            throw .notFound("no window \(n) (windows: \(setup.windows.map { String($0.number) }.joined(separator: ", ")))")
        }
        return (config, w)
    }

    /// Calls the next ticket this window may serve; nil when nobody waits for it.
    public func callNext(window n: Int) async throws -> Ticket? {
        rollDay()
        let (config, w) = try openWindow(n)
        if hasRoster, w.clerk?.staffId == nil {
            throw HallError.notNow("nobody is signed in at window \(n): the hall has a roster, a clerk signs in first (POST /v1/windows/\(n)/sign-in)")
        }
        // Busy is refused even when nobody waits.
        try machine.ensureFree(n, busy: w.current)
        // Another halld of the hall may call the same ticket first: the store refuses
        // the second call (`stateChanged`), and this window takes the next one.
        var taken: Set<String> = []
        while true {
            // The window's services, and of those the signed-in clerk's (when the roster limits them).
            let clerkServices = w.clerk?.staffId.flatMap { roster[$0]?.services } ?? []
            guard
                let next = QueueOrder.next(
                    candidates { config.serves($0.service) && (clerkServices.isEmpty || clerkServices.contains($0.service)) && !taken.contains($0.id) }, now: now(),
                    agingBound: setup.agingBound),
                let t = tickets[next.id]
            else {
                return nil
            }
            do {
                return try await carryOut(try machine.call(t, window: n, busy: w.current, clerk: w.clerk?.name, staffId: w.clerk?.staffId, at: now()), at: config)
            } catch HallStoreError.stateChanged(let state) {
                logger.info("\(t.number) was \(state?.rawValue ?? "changed") by another halld before window \(n) called it; calling the next")
                taken.insert(t.id)
            }
        }
    }

    public func recall(window n: Int) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        let lastCall = w.current.flatMap { lastCalled[$0.id] }
        let transition = try machine.recall(w.current, window: n, lastCall: lastCall, at: now())
        lastCalled[transition.ticket.id] = now()
        return try await carryOut(transition, at: config)
    }

    public func noShow(window n: Int) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        return try await carryOut(try machine.noShow(w.current, window: n, at: now()), at: config)
    }

    /// Sends the ticket being served to another service's queue, keeping its issue time.
    public func transfer(window n: Int, to service: String) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        let transition = try machine.transfer(w.current, window: n, to: service)
        guard setup.service(service) != nil else { throw HallError.notFound("no service '\(service)'", field: "service") }
        let from = w.current!
        let moved = withAhead(try await carryOut(transition, at: config))
        // 首问负责: who sent the citizen on, from where, to what.
        let referral = Referral(
            id: "ref-" + UUID().uuidString.prefix(8).lowercased(), ticket: from.id, number: from.number, at: now(), fromService: from.service,
            toService: service, window: n, staffId: w.clerk?.staffId, clerk: w.clerk?.name)
        do {
            try await store.saveReferral(referral)
            await publish(NewEvent(type: "referral", data: try JSONValue(encoding: referral)))
        } catch {
            logger.error("the referral of \(from.number) from window \(n) to \(service) could not be recorded: \(error)", metadata: ["ticket": "\(from.id)"])
        }
        return moved
    }

    /// Completes the service and asks the window's keypad for the rating (一次一评).
    public func complete(window n: Int) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        return try await carryOut(try machine.complete(w.current, window: n, at: now()), at: config)
    }

    /// Stores a transition's ticket, then does what it asks, in order.
    private func carryOut(_ transition: TicketMachine.Transition, at window: HallWindowConfig) async throws -> Ticket {
        let t = transition.ticket
        try await save(t)
        for action in transition.actions {
            switch action {
            case .occupy(let n): windows[n]?.current = t
            case .free(let n): windows[n]?.current = nil
            case .announceCall: await announceCall(t, window: window)
            case .publish(let type, let recall): await publish(type, t, extra: recall.map { ["recall": .number(Double($0))] } ?? [:])
            case .askRating: if let keypad = window.keypad { askRating(t, keypad: keypad) }
            }
        }
        return t
    }
}
