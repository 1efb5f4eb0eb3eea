import DeviceKit
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A serial port in raw mode. Blocking calls: use it from a `BlockingWorker`.
public final class SerialPort: @unchecked Sendable {
    // @unchecked: used from one worker thread at a time (the line's).
    public let path: String
    private var fd: Int32

    /// Opens `path` (a udev symlink is followed) and sets raw termios from `settings`.
    /// RS-485 and modem-line ioctls are tried and their ENOTTY (a pty) ignored.
    public init(path: String, settings: SerialSettings) throws {
        self.path = path
        fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Self.openError(path, errno) }
        do {
            try configure(settings)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// What turning on RS-485 mode gave: nil when not asked, 0 when the driver took
    /// it, else the errno (ENOTTY on a pty or an adapter that switches direction itself).
    public private(set) var rs485Result: Int32?

    /// `struct serial_rs485` of linux/serial.h (32 bytes): RS-485 on, RTS high while sending.
    static func enableRS485(_ fd: Int32) -> Int32 {
        let tiocsrs485: UInt = 0x542F
        let enabled: UInt32 = 1 << 0, rtsOnSend: UInt32 = 1 << 1
        var config = [UInt32](repeating: 0, count: 8)
        config[0] = enabled | rtsOnSend
        let rc = config.withUnsafeMutableBytes { ioctl(fd, tiocsrs485, $0.baseAddress!) }
        return rc == 0 ? 0 : errno
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    static func openError(_ path: String, _ code: Int32) -> DeviceError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOENT, ENODEV, ENXIO:
            return DeviceError(.deviceNotReady, "serial port \(path) is not there: \(reason)", reasons: [Reason.deviceAbsent], state: .noDevice)
        case EACCES, EPERM:
            return DeviceError(.deviceNotReady, "no permission to open \(path): add halld's user to its group (dialout)", reasons: ["permission-denied-error"], state: .offline)
        case EBUSY:
            return DeviceError(.deviceNotReady, "\(path) is in use by another program", reasons: ["port-busy-error"], state: .offline)
        default:
            return DeviceError(.hardwareError, "cannot open \(path): \(reason)", reasons: [Reason.openFailed], state: .offline)
        }
    }

    static func speed(_ baud: Int) -> speed_t? {
        switch baud {
        case 1200: speed_t(B1200)
        case 2400: speed_t(B2400)
        case 4800: speed_t(B4800)
        case 9600: speed_t(B9600)
        case 19200: speed_t(B19200)
        case 38400: speed_t(B38400)
        case 57600: speed_t(B57600)
        case 115200: speed_t(B115200)
        default: nil
        }
    }

    private func configure(_ s: SerialSettings) throws {
        var t = termios()
        guard tcgetattr(fd, &t) == 0 else {
            throw DeviceError(.hardwareError, "\(path) is not a serial port: \(String(cString: strerror(errno)))", reasons: [Reason.openFailed], state: .offline)
        }
        cfmakeraw(&t)
        guard let speed = Self.speed(s.baud) else { throw DeviceError(.invalidData, "baud \(s.baud) is not one of \(SerialSettings.bauds)") }
        cfsetispeed(&t, speed)
        cfsetospeed(&t, speed)
        t.c_cflag &= ~(tcflag_t(CSIZE) | tcflag_t(PARENB) | tcflag_t(PARODD) | tcflag_t(CSTOPB) | tcflag_t(CRTSCTS))
        t.c_cflag |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
        switch s.dataBits {
        case 7: t.c_cflag |= tcflag_t(CS7)
        default: t.c_cflag |= tcflag_t(CS8)
        }
        switch s.parity {
        case .none: break
        case .even: t.c_cflag |= tcflag_t(PARENB)
        case .odd: t.c_cflag |= tcflag_t(PARENB) | tcflag_t(PARODD)
        }
        if s.stopBits == 2 { t.c_cflag |= tcflag_t(CSTOPB) }
        // Reads are done with poll(2); VMIN/VTIME 0 makes read return what is there.
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &t) == 0 else {
            throw DeviceError(.hardwareError, "cannot set \(s) on \(path): \(String(cString: strerror(errno)))", reasons: [Reason.openFailed], state: .offline)
        }
        if s.rs485 { rs485Result = Self.enableRS485(fd) }
        // Modem lines: raise DTR and RTS for adapters that power the bus from them. A pty answers ENOTTY.
        var lines = Int32(TIOCM_DTR | TIOCM_RTS)
        _ = ioctl(fd, UInt(TIOCMBIS), &lines)
        tcflush(fd, TCIOFLUSH)
    }

    public enum ReadResult: Equatable { case bytes([UInt8]), timeout, hangup }

    /// Waits up to `timeout` for bytes; returns what arrived, `timeout`, or `hangup`
    /// when the other end is gone (a USB adapter pulled, a pty closed).
    public func read(timeout: Duration) throws -> ReadResult {
        let ms = Int32(max(0, min(Double(Int32.max), (Double(timeout.components.seconds) * 1000 + Double(timeout.components.attoseconds) / 1e15).rounded(.up))))
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, ms)
        if rc < 0 {
            if errno == EINTR { return .bytes([]) }
            throw DeviceError(.hardwareError, "poll on \(path): \(String(cString: strerror(errno)))", state: .offline)
        }
        if rc == 0 { return .timeout }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = Glibc.read(fd, &buffer, buffer.count)
        if n > 0 { return .bytes(Array(buffer[0..<n])) }
        if n == 0 || errno == EIO || (p.revents & Int16(POLLHUP)) != 0 { return .hangup }
        if errno == EAGAIN || errno == EINTR { return .bytes([]) }
        throw DeviceError(.hardwareError, "read on \(path): \(String(cString: strerror(errno)))", state: .offline)
    }

    /// Writes every byte and waits until they left the UART (tcdrain).
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 100)
                    continue
                }
                if errno == EIO { throw DeviceError(.deviceNotReady, "\(path) hung up", reasons: ["port-hangup-error"], state: .noDevice) }
                throw DeviceError(.hardwareError, "write on \(path): \(String(cString: strerror(errno)))", state: .offline)
            }
            offset += n
        }
        tcdrain(fd)
    }

    /// Drops bytes received and not read (stale answers before a new request).
    public func discardInput() { tcflush(fd, TCIFLUSH) }
}
