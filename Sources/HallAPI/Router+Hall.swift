import HallAPIModels
import Hummingbird

/// Builds the API's router. `main` and the tests share it.
public func buildRouter(_ services: APIServices) -> Router<HallRequestContext> {
    let router = Router(context: HallRequestContext.self)
    router.add(middleware: AccessMiddleware(services: services))
    DaemonController(services: services).register(router)
    DeviceController(services: services).register(router)
    JobController(services: services).register(router)
    PanelController(services: services).register(router)
    HallController(services: services).register(router)
    EventsController(services: services).register(router)
    return router
}
