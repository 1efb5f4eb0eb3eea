import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird
import Prometheus
import Synchronization

/// The daemon's metrics in a Prometheus registry of its own (one per daemon, so
/// several daemons in one test process do not mix): requests and latency by route,
/// and at each scrape the devices' states, their persistent counters and the hall's.
///
/// Totals that only grow (a device's communication errors and jobs, failed rating
/// writes) are Prometheus counters; states and queue lengths are gauges. Every metric
/// object is made once and kept; a device that is no longer configured has its
/// series removed at the next scrape.
public final class HallMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    static let buckets: [Duration] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5].map { .milliseconds(Int($0 * 1000)) }

    /// A counter fed from a total kept elsewhere (a device counter, the hall's):
    /// each scrape adds what grew since the last.
    final class TotalCounter: Sendable {
        let counter: Prometheus.Counter
        private let last = Mutex<Int64>(0)
        init(_ counter: Prometheus.Counter) { self.counter = counter }
        func update(to total: Int64) {
            let delta = last.withLock { last -> Int64 in
                defer { last = max(last, total) }
                return total - last
            }
            if delta > 0 { counter.increment(by: delta) }
        }
    }

    /// The series of one device.
    struct DeviceSeries: Sendable {
        var states: [DeviceState: Prometheus.Gauge]
        var totals: [CounterName: TotalCounter]
    }

    private let requests = Mutex<[String: (Prometheus.Counter, DurationHistogram)]>([:])
    private let devices = Mutex<[DeviceID: DeviceSeries]>([:])
    private let gauges = Mutex<[String: Prometheus.Gauge]>([:])
    private let totals = Mutex<[String: TotalCounter]>([:])
    /// One scrape at a time: the series are updated, then written.
    private let scraping = Mutex<Void>(())

    public init() {}

    func request(method: String, route: String, status: Int, seconds: Double) {
        let key = "\(method) \(route) \(status)"
        let (counter, histogram) = requests.withLock { r in
            if let made = r[key] { return made }
            let made = (
                registry.makeCounter(name: "halld_http_requests_total", labels: [("method", method), ("route", route), ("status", String(status))]),
                registry.makeDurationHistogram(name: "halld_http_request_duration_seconds", labels: [("method", method), ("route", route)], buckets: Self.buckets)
            )
            r[key] = made
            return made
        }
        counter.increment()
        histogram.record(.nanoseconds(Int64(seconds * 1e9)))
    }

    static let deviceTotals: [(CounterName, String, [(String, String)])] = [
        (.communicationErrors, "halld_device_communication_errors_total", []),
        (.printJobs, "halld_device_jobs_total", [("kind", CounterName.printJobs.rawValue)]),
        (.scanJobs, "halld_device_jobs_total", [("kind", CounterName.scanJobs.rawValue)]),
        (.ratings, "halld_device_jobs_total", [("kind", CounterName.ratings.rawValue)]),
    ]

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return gauges.withLock { g in
            if let made = g[key] { return made }
            let made = registry.makeGauge(name: name, labels: labels)
            g[key] = made
            return made
        }
    }

    private func total(_ name: String, _ labels: [(String, String)] = []) -> TotalCounter {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return totals.withLock { t in
            if let made = t[key] { return made }
            let made = TotalCounter(registry.makeCounter(name: name, labels: labels))
            t[key] = made
            return made
        }
    }

    /// Updates the series read from the daemon's state, then writes the text.
    func scrape(_ services: APIServices) async -> String {
        let snapshots = await services.registry.snapshots()
        var hallFigures: (waiting: [String: Int], stats: HallStats?, lost: Int, writeFailures: Int, publishFailures: Int)?
        if let hall = services.hall {
            let stats = try? await hall.stats(date: await hall.day(Date()))
            hallFigures = (await hall.waitingCounts(), stats, await hall.ratingsLost, await hall.ratingWriteFailures, await hall.publishFailures)
        }
        return scraping.withLock { _ in
            updateDevices(snapshots)
            if let hallFigures {
                for (service, waiting) in hallFigures.waiting { gauge("halld_queue_waiting", [("service", service)]).set(to: Double(waiting)) }
                if let stats = hallFigures.stats {
                    gauge("halld_tickets_issued_today").set(to: Double(stats.hall.issued))
                    gauge("halld_waiting_seconds_mean_today").set(to: stats.hall.waitingMeanSeconds ?? 0)
                    gauge("halld_waiting_seconds_p90_today").set(to: stats.hall.waitingP90Seconds ?? 0)
                }
                total("halld_ratings_failed_total").update(to: Int64(hallFigures.lost))
                total("halld_rating_write_failures_total").update(to: Int64(hallFigures.writeFailures))
                total("halld_event_publish_failures_total").update(to: Int64(hallFigures.publishFailures))
            }
            return registry.emitToString()
        }
    }

    func updateDevices(_ snapshots: [DeviceSnapshot]) {
        devices.withLock { devices in
            let present = Set(snapshots.map(\.id))
            // Devices no longer there: their series go, so dashboards do not show stale states.
            for (id, series) in devices where !present.contains(id) {
                series.states.values.forEach { registry.unregisterGauge($0) }
                series.totals.values.forEach { registry.unregisterCounter($0.counter) }
                devices[id] = nil
            }
            for s in snapshots {
                let series = devices[s.id] ?? {
                    let id = s.id.rawValue
                    var states: [DeviceState: Prometheus.Gauge] = [:]
                    for state in DeviceState.allCases {
                        states[state] = registry.makeGauge(name: "halld_device_state", labels: [("device", id), ("kind", s.kind.rawValue), ("state", state.rawValue)])
                    }
                    var totals: [CounterName: TotalCounter] = [:]
                    for (name, metric, labels) in Self.deviceTotals {
                        totals[name] = TotalCounter(registry.makeCounter(name: metric, labels: [("device", id)] + labels))
                    }
                    return DeviceSeries(states: states, totals: totals)
                }()
                devices[s.id] = series
                for (state, gauge) in series.states { gauge.set(to: s.status.state == state ? 1 : 0) }
                for (name, counter) in series.totals { counter.update(to: s.counters[name]) }
            }
        }
    }
}

/// Counts every request and its latency, by route template (`/v1/devices/{id}`).
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = HallRequestContext
    let metrics: HallMetrics

    func handle(_ request: Request, context: HallRequestContext, next: (Request, HallRequestContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func seconds() -> Double {
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: response.status.code, seconds: seconds())
            return response
        } catch {
            let status = APIError(answering: error)?.status.code ?? (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: status, seconds: seconds())
            throw error
        }
    }
}
