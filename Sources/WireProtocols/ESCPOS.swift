import DeviceKit

/// ESC/POS queue tickets for 58 mm and 80 mm thermal printers, rendered from a
/// template. Chinese text goes out in GB18030 (or GBK) between `FS &` and `FS .`;
/// widths count a CJK character as two columns, for wrapping and centering.
public enum ESCPOS {
    public enum Paper: Int, Sendable, CaseIterable {
        case mm58 = 58, mm80 = 80
        /// Columns of font A (12 × 24 dots): 384 and 576 dots wide.
        public var columns: Int { self == .mm58 ? 32 : 48 }
    }

    public static let initialize: [UInt8] = [0x1B, 0x40]
    public static let chineseOn: [UInt8] = [0x1C, 0x26]
    public static let chineseOff: [UInt8] = [0x1C, 0x2E]
    /// `GS V 66 0`: feed to the cutter and cut partially.
    public static let partialCut: [UInt8] = [0x1D, 0x56, 0x42, 0x00]

    public static func bold(_ on: Bool) -> [UInt8] { [0x1B, 0x45, on ? 1 : 0] }
    public static func align(_ a: TicketTemplate.Alignment) -> [UInt8] {
        [0x1B, 0x61, a == .left ? 0 : a == .center ? 1 : 2]
    }
    /// `GS ! n`: width and height multipliers 1-8.
    public static func size(width: Int, height: Int) -> [UInt8] { [0x1D, 0x21, UInt8((width - 1) << 4 | (height - 1))] }

    /// `GS ( k`: model 2, module size, error correction M, store the data, print.
    public static func qrCode(_ data: [UInt8], moduleSize: Int = 6) -> [UInt8] {
        let stored = data.count + 3
        return [0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00]
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, UInt8(moduleSize)]
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31]
            + [0x1D, 0x28, 0x6B, UInt8(stored & 0xFF), UInt8(stored >> 8), 0x31, 0x50, 0x30] + data
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30]
    }

    /// Splits `text` into lines of at most `width` columns, a wide character never split.
    public static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [text] }
        var lines: [String] = []
        var current = "", used = 0
        for c in text {
            let w = displayColumns(c)
            if used + w > width, !current.isEmpty {
                lines.append(current)
                current = ""
                used = 0
            }
            current.append(c)
            used += w
        }
        lines.append(current)
        return lines
    }
}
