import DeviceKit
import Foundation

/// A scanned page for the simulated scanner: white paper with a black border, a
/// band of colour bars, a one-inch grid, and the page number as large digits, so a
/// person can tell pages apart and see the mode and resolution were honoured.
struct TestPattern {
    let width: Int
    let height: Int
    let mode: ScanMode

    /// Samples per pixel: 3 for colour, 1 for grey and line art.
    var channels: Int { mode == .color ? 3 : 1 }

    init(resolution: Int, mode: ScanMode, widthMM: Double = 210, heightMM: Double = 297) {
        self.width = max(1, Int((widthMM / 25.4 * Double(resolution)).rounded()))
        self.height = max(1, Int((heightMM / 25.4 * Double(resolution)).rounded()))
        self.mode = mode
    }

    private static let bars: [(UInt8, UInt8, UInt8)] = [
        (255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0),
    ]

    private func pixel(_ rgb: (UInt8, UInt8, UInt8)) -> [UInt8] {
        let r: Int = Int(rgb.0) * 299
        let g: Int = Int(rgb.1) * 587
        let b: Int = Int(rgb.2) * 114
        let luma: Int = (r + g + b) / 1000
        switch mode {
        case .color: return [rgb.0, rgb.1, rgb.2]
        case .gray: return [UInt8(luma)]
        case .lineart: return [luma >= 128 ? 255 : 0]
        }
    }

    /// Raw samples, row after row, `channels` bytes a pixel.
    func render(page: Int) -> [UInt8] {
        let stride = width * channels
        let black = pixel((0, 0, 0)), white = pixel((255, 255, 255))
        let border = max(2, width / 200)
        let inch = max(4, Int(Double(width) / 8.27))

        func row(_ fill: (Int) -> [UInt8]) -> [UInt8] {
            var r = [UInt8](); r.reserveCapacity(stride)
            for x in 0..<width { r.append(contentsOf: (x < border || x >= width - border) ? black : fill(x)) }
            return r
        }
        let plain = row { x in x % inch == 0 ? black : white }
        let gridLine = row { _ in black }
        let barRow = row { x in pixel(Self.bars[min(7, x * 8 / width)]) }
        let bandTop = height / 12, bandBottom = height / 6

        var image = [UInt8](); image.reserveCapacity(stride * height)
        for y in 0..<height {
            if y < border || y >= height - border || (y % inch == 0 && y >= bandBottom) {
                image.append(contentsOf: gridLine)
            } else if y >= bandTop && y < bandBottom {
                image.append(contentsOf: barRow)
            } else {
                image.append(contentsOf: plain)
            }
        }
        drawNumber(page, into: &image, color: black)
        return image
    }

    // 3x5 digits, scaled, centred in the page.
    private static let glyphs: [[UInt8]] = [
        [7, 5, 5, 5, 7], [2, 6, 2, 2, 7], [7, 1, 7, 4, 7], [7, 1, 7, 1, 7], [5, 5, 7, 1, 1],
        [7, 4, 7, 1, 7], [7, 4, 7, 5, 7], [7, 1, 1, 1, 1], [7, 5, 7, 5, 7], [7, 5, 7, 1, 7],
    ]

    private func drawNumber(_ n: Int, into image: inout [UInt8], color: [UInt8]) {
        let digits = String(n).compactMap { $0.wholeNumberValue }
        let scale = max(1, width / 40)
        let totalWidth = digits.count * 4 * scale
        let x0 = max(0, (width - totalWidth) / 2), y0 = height / 2 - 5 * scale / 2
        for (i, d) in digits.enumerated() {
            for gy in 0..<5 {
                for gx in 0..<3 where Self.glyphs[d][gy] & (4 >> gx) != 0 {
                    for dy in 0..<scale {
                        let y = y0 + gy * scale + dy
                        guard y >= 0 && y < height else { continue }
                        for dx in 0..<scale {
                            let x = x0 + (i * 4 + gx) * scale + dx
                            guard x < width else { continue }
                            let at = (y * width + x) * channels
                            for c in 0..<channels { image[at + c] = color[c] }
                        }
                    }
                }
            }
        }
    }
}
