import HallAPIModels
import Hummingbird

/// Builds the API's router. `main` and the tests share it.
public func buildRouter(_ services: APIServices) -> Router<HallRequestContext> {
    let router = Router(context: HallRequestContext.self)
    let routes = RouteTable()
    router.add(middleware: AccessMiddleware(services: services, routes: routes))
    router.add(middleware: MetricsMiddleware(metrics: services.metrics))
    router.get("/metrics") { _, context in
        try context.require(.technician, to: "reading metrics")
        let text = await services.metrics.scrape(services)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
    DaemonController(services: services).register(router)
    BridgeController(services: services).register(router)
    PageController(services: services).register(router)
    DeviceController(services: services).register(router)
    ScanController(services: services).register(router)
    PrintController(services: services).register(router)
    KeypadController(services: services).register(router)
    DisplayController(services: services).register(router)
    SpeakerController(services: services).register(router)
    HallController(services: services).register(router)
    TicketController(services: services).register(router)
    WindowController(services: services).register(router)
    ClerkController(services: services).register(router)
    LedgerController(services: services).register(router)
    FollowUpController(services: services).register(router)
    RatingController(services: services).register(router)
    AppointmentController(services: services).register(router)
    ServiceController(services: services).register(router)
    EventsController(services: services).register(router)
    routes.fill(router.routes.map { (path: $0.path.description, method: $0.method.rawValue) })
    return router
}
