import DeviceKit
import Drivers
import HallConfiguration
import Simulators
import Speech
import Transports
import WireProtocols

/// Makes the devices that configuration names, each with its driver. Devices on
/// the same serial port share one `SerialLine`, so their exchanges take turns.
struct DeviceFactory {
    private var lines: [String: SerialLine] = [:]
    /// The USB bus, for devices configured by USB id.
    var bus: (any USBEnumeration)?
    /// Speakers' voices: their chime is what the external health check plays.
    var voices: [DeviceID: any Voice] = [:]

    mutating func make(_ config: HallConfig.Device) -> any Device {
        switch config.settings {
        case .framed(let framed):
            let serial = framed.serial
            let link = FrameLink(
                line: self.line(serial), address: serial.address, profile: framed.profile.frame, commands: framed.profile.commands,
                timeout: .milliseconds(serial.timeoutMilliseconds), retries: serial.retries)
            let poll = Duration.milliseconds(serial.pollMilliseconds)
            if config.kind == .keypad {
                return ProfileKeypad(id: config.id, name: config.name, link: link, keys: serial.keys, pollInterval: poll)
            }
            return ProfileDisplay(id: config.id, name: config.name, link: link, lines: config.lines, columns: config.columns, pollInterval: poll * 10)
        case .modbus(let modbus):
            let serial = modbus.serial
            let line = self.line(serial)
            let timeout = Duration.milliseconds(serial.timeoutMilliseconds)
            let poll = Duration.milliseconds(serial.pollMilliseconds)
            if config.kind == .keypad {
                return ModbusKeypad(
                    id: config.id, name: config.name, line: line, unit: UInt8(serial.address), map: modbus.registers, keys: serial.keys, timeout: timeout,
                    retries: serial.retries, pollInterval: poll)
            }
            return ModbusDisplay(
                id: config.id, name: config.name, line: line, unit: UInt8(serial.address), map: modbus.registers, lines: config.lines, columns: config.columns,
                timeout: timeout, retries: serial.retries, pollInterval: poll * 10)
        case .sane(let sane):
            let wanted = sane.usb.map { USBPresence.Wanted(device: config.id, usb: $0, serialNumber: sane.usbSerial) }
            return SaneScanner(
                id: config.id, name: config.name, deviceName: sane.device, usb: wanted, bus: wanted == nil ? nil : bus, backendOptions: sane.options,
                stallLimit: .seconds(sane.stallSeconds))
        case .cups(let cups):
            let layout = config.ticketLayout ?? TicketLayout()
            return CupsPrinter(
                id: config.id, name: config.name, queue: cups.queue, format: cups.format, client: CupsClient(server: cups.server, name: config.id.rawValue),
                paper: layout.paper, encoding: layout.encoding, pollInterval: .milliseconds(cups.pollMilliseconds))
        case .alsa(let alsa):
            return AlsaSpeaker(id: config.id, name: config.name, pcm: alsa.pcm, chime: voices[config.id]?.chime ?? .chime())
        case .simulated(let simulated):
            switch config.kind {
            case .speaker: return SimulatedSpeaker(id: config.id, name: config.name, chime: voices[config.id]?.chime ?? .chime())
            case .scanner: return SimulatedScanner(id: config.id, name: config.name, sheets: simulated.sheets)
            case .printer: return SimulatedPrinter(id: config.id, name: config.name, paper: simulated.paper)
            case .keypad: return SimulatedKeypad(id: config.id, name: config.name)
            case .display: return SimulatedDisplay(id: config.id, name: config.name, lines: config.lines, columns: config.columns)
            }
        }
    }

    private mutating func line(_ serial: SerialDeviceSettings) -> SerialLine {
        if let line = lines[serial.port] { return line }
        let line = SerialLine(path: serial.port, settings: serial.settings)
        lines[serial.port] = line
        return line
    }

    static func make(_ devices: [HallConfig.Device], bus: (any USBEnumeration)? = nil, voices: [DeviceID: any Voice] = [:]) -> [any Device] {
        var factory = DeviceFactory()
        factory.bus = bus
        factory.voices = voices
        return devices.map { factory.make($0) }
    }
}
