import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird
import Metrics
import Prometheus

/// The daemon's metrics through swift-metrics into a Prometheus registry of its
/// own (one per daemon, so several daemons in one test process do not mix):
/// requests and latency by route, and at each scrape the devices' states and
/// communication errors, jobs, queue lengths and today's waiting time.
public final class HallMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5].map { .milliseconds(Int($0 * 1000)) }
        self.factory = factory
    }

    func request(method: String, route: String, status: Int, seconds: Double) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        Counter(label: "halld_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Metrics.Timer(label: "halld_http_request_duration_seconds", dimensions: [("method", method), ("route", route)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Updates the gauges that are read from the daemon's state, then writes the text.
    func scrape(_ services: APIServices) async -> String {
        for s in await services.registry.snapshots() {
            for state in DeviceState.allCases {
                Gauge(label: "halld_device_state", dimensions: [("device", s.id.rawValue), ("kind", s.kind.rawValue), ("state", state.rawValue)], factory: factory)
                    .record(s.status.state == state ? 1 : 0)
            }
            Gauge(label: "halld_device_communication_errors", dimensions: [("device", s.id.rawValue)], factory: factory)
                .record(Double(s.counters[.communicationErrors]))
            for name in [CounterName.printJobs, .scanJobs, .ratings] {
                Gauge(label: "halld_device_jobs", dimensions: [("device", s.id.rawValue), ("kind", name.rawValue)], factory: factory)
                    .record(Double(s.counters[name]))
            }
        }
        if let hall = services.hall {
            for (service, waiting) in await hall.waitingCounts() {
                Gauge(label: "halld_queue_waiting", dimensions: [("service", service)], factory: factory).record(Double(waiting))
            }
            if let stats = try? await hall.stats(date: await hall.day(Date())) {
                Gauge(label: "halld_tickets_issued_today", factory: factory).record(Double(stats.hall.issued))
                Gauge(label: "halld_waiting_seconds_mean_today", factory: factory).record(stats.hall.waitingMeanSeconds ?? 0)
                Gauge(label: "halld_waiting_seconds_p90_today", factory: factory).record(stats.hall.waitingP90Seconds ?? 0)
            }
        }
        return registry.emitToString()
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
            let status = (error as? APIError)?.status.code ?? (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: status, seconds: seconds())
            throw error
        }
    }
}
