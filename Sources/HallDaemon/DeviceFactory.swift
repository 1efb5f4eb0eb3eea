import DeviceKit
import Simulators

/// Makes the devices that configuration names, each with its driver.
enum DeviceFactory {
    static func make(_ config: HallConfig.Device) -> any Device {
        // Only the simulated driver is in this build; `HallConfig` refuses the others.
        switch config.kind {
        case .scanner: SimulatedScanner(id: config.id, name: config.name, sheets: config.sheets)
        case .printer: SimulatedPrinter(id: config.id, name: config.name, paper: config.paper)
        case .keypad: SimulatedKeypad(id: config.id, name: config.name)
        case .display: SimulatedDisplay(id: config.id, name: config.name, lines: config.lines, columns: config.columns)
        }
    }
}
