import CZlib
import DeviceKit
import Foundation

/// Encoders for the simulated scanner's pages: PNG (zlib-compressed) and PNM.
enum ImageEncoding {
    static let formats = ["png", "pnm"]

    static func mediaType(_ format: String) -> String {
        format == "png" ? "image/png" : "image/x-portable-anymap"
    }

    static func encode(_ samples: [UInt8], width: Int, height: Int, channels: Int, format: String) throws -> Data {
        switch format {
        case "png": return try png(samples, width: width, height: height, channels: channels)
        case "pnm":
            var d = Data("\(channels == 3 ? "P6" : "P5")\n\(width) \(height)\n255\n".utf8)
            d.append(contentsOf: samples)
            return d
        default:
            throw DeviceError(.invalidData, "format '\(format)' is not one of \(formats.joined(separator: ", "))")
        }
    }

    static func png(_ samples: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
        // Each row starts with filter type 0 (none).
        let stride = width * channels
        var filtered = [UInt8](repeating: 0, count: (stride + 1) * height)
        samples.withUnsafeBufferPointer { src in
            filtered.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let to = dst.baseAddress! + y * (stride + 1) + 1
                    to.update(from: src.baseAddress! + y * stride, count: stride)
                }
            }
        }
        var compressedLength = compressBound(uLong(filtered.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedLength))
        let rc = compress2(&compressed, &compressedLength, filtered, uLong(filtered.count), 1)
        guard rc == Z_OK else { throw DeviceError(.hardwareError, "zlib compress2 failed (\(rc))") }

        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header.append(contentsOf: [8, channels == 3 ? 2 : 0, 0, 0, 0])
        out.appendChunk("IHDR", header)
        out.appendChunk("IDAT", Data(compressed[0..<Int(compressedLength)]))
        out.appendChunk("IEND", Data())
        return out
    }
}

extension Data {
    mutating func appendBigEndian(_ v: UInt32) {
        append(contentsOf: [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)])
    }

    mutating func appendChunk(_ type: String, _ body: Data) {
        appendBigEndian(UInt32(body.count))
        var typed = Data(type.utf8)
        typed.append(body)
        append(typed)
        let crc = typed.withUnsafeBytes { crc32(0, $0.bindMemory(to: UInt8.self).baseAddress, uInt(typed.count)) }
        appendBigEndian(UInt32(crc))
    }
}
