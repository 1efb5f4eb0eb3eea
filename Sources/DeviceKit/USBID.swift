import Foundation

/// A USB vendor:product pair, written `04c5:132e`.
public struct USBID: Sendable, Hashable, CustomStringConvertible {
    public var vendor: UInt16
    public var product: UInt16

    public init(vendor: UInt16, product: UInt16) {
        self.vendor = vendor
        self.product = product
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 }), let v = UInt16(parts[0], radix: 16), let p = UInt16(parts[1], radix: 16) else { return nil }
        self.init(vendor: v, product: p)
    }

    public var description: String { String(format: "%04x:%04x", vendor, product) }
}
