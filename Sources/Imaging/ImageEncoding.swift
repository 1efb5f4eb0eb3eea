import CTurboJPEG
import CZlib
import Foundation

/// Page images: PNG (zlib), PNM, and JPEG (libturbojpeg). Samples are 8-bit
/// gray (1 channel) or RGB (3 channels), rows top to bottom.
public enum ImageEncoding {
    /// Page formats; `pdf` jobs encode their pages as JPEG and add a PDF of them.
    public static let formats = ["png", "pnm", "jpeg"]

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func mediaType(_ format: String) -> String {
        switch format {
        case "png": "image/png"
        case "jpeg": "image/jpeg"
        case "pdf": "application/pdf"
        default: "image/x-portable-anymap"
        }
    }

    public static func encode(_ samples: [UInt8], width: Int, height: Int, channels: Int, format: String, quality: Int = 85) throws -> Data {
        switch format {
        case "png": return try png(samples, width: width, height: height, channels: channels)
        case "jpeg": return try jpeg(samples, width: width, height: height, channels: channels, quality: quality)
        case "pnm":
            var d = Data("\(channels == 3 ? "P6" : "P5")\n\(width) \(height)\n255\n".utf8)
            d.append(contentsOf: samples)
            return d
        default:
            throw Failure(description: "format '\(format)' is not one of \(formats.joined(separator: ", "))")
        }
    }

    /// JPEG through libturbojpeg: 4:2:0 for color, gray for gray.
    public static func jpeg(_ samples: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 85) throws -> Data {
        guard let handle = tjInitCompress() else { throw Failure(description: "tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let pixelFormat = channels == 3 ? TJPF_RGB : TJPF_GRAY
        let subsampling = channels == 3 ? TJSAMP_420 : TJSAMP_GRAY
        let rc = samples.withUnsafeBufferPointer { src in
            tjCompress2(
                handle, src.baseAddress, Int32(width), Int32(width * channels), Int32(height), Int32(pixelFormat.rawValue), &buffer, &size,
                Int32(subsampling.rawValue), Int32(quality), TJFLAG_FASTDCT)
        }
        defer { tjFree(buffer) }
        guard rc == 0, let buffer else { throw Failure(description: "JPEG encoding failed: \(String(cString: tjGetErrorStr2(handle)))") }
        return Data(bytes: buffer, count: Int(size))
    }

    /// Width, height and channels of a JPEG, read by libturbojpeg's decoder.
    public static func jpegDimensions(_ data: Data) -> (width: Int, height: Int, channels: Int)? {
        guard let handle = tjInitDecompress() else { return nil }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        let rc = data.withUnsafeBytes { b in
            tjDecompressHeader3(handle, b.bindMemory(to: UInt8.self).baseAddress, UInt(data.count), &w, &h, &sub, &space)
        }
        guard rc == 0 else { return nil }
        return (Int(w), Int(h), space == Int32(TJCS_GRAY.rawValue) ? 1 : 3)
    }

    public static func png(_ samples: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
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
        guard rc == Z_OK else { throw Failure(description: "zlib compress2 failed (\(rc))") }

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
