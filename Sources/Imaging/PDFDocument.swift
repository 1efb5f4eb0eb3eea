import Foundation

/// A PDF whose pages are JPEG images embedded as they are (DCTDecode), each page
/// sized from the image and its resolution. Pages are added as they are scanned;
/// `data` writes objects, the cross-reference table and the trailer.
public struct PDFDocument: Sendable {
    struct Page: Sendable {
        var jpeg: Data
        var width: Int
        var height: Int
        var gray: Bool
        var dpi: Int
    }

    private var pages: [Page] = []

    public init() {}

    public var pageCount: Int { pages.count }

    public mutating func addJPEG(_ jpeg: Data, width: Int, height: Int, gray: Bool, dpi: Int) {
        pages.append(Page(jpeg: jpeg, width: width, height: height, gray: gray, dpi: dpi))
    }

    public var data: Data {
        // Objects: 1 catalog, 2 pages, then per page: page, contents, image.
        var out = Data("%PDF-1.4\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".utf8)
        var offsets: [Int] = [0, 0]
        func object(_ number: Int, _ body: Data) {
            while offsets.count <= number { offsets.append(0) }
            offsets[number] = out.count
            out.append(Data("\(number) 0 obj\n".utf8))
            out.append(body)
            out.append(Data("\nendobj\n".utf8))
        }
        let kids = pages.indices.map { "\(3 + $0 * 3) 0 R" }.joined(separator: " ")
        object(1, Data("<< /Type /Catalog /Pages 2 0 R >>".utf8))
        object(2, Data("<< /Type /Pages /Kids [\(kids)] /Count \(pages.count) >>".utf8))
        for (i, p) in pages.enumerated() {
            let (pageObj, contentObj, imageObj) = (3 + i * 3, 4 + i * 3, 5 + i * 3)
            let w = Double(p.width) * 72 / Double(p.dpi), h = Double(p.height) * 72 / Double(p.dpi)
            let size = String(format: "%.2f 0 0 %.2f 0 0", w, h)
            object(
                pageObj,
                Data(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 \(String(format: "%.2f %.2f", w, h))] /Resources << /XObject << /Im\(i) \(imageObj) 0 R >> >> /Contents \(contentObj) 0 R >>"
                        .utf8))
            let content = "q \(size) cm /Im\(i) Do Q\n"
            object(contentObj, Data("<< /Length \(content.utf8.count) >>\nstream\n\(content)endstream".utf8))
            var image = Data(
                "<< /Type /XObject /Subtype /Image /Width \(p.width) /Height \(p.height) /ColorSpace /\(p.gray ? "DeviceGray" : "DeviceRGB") /BitsPerComponent 8 /Filter /DCTDecode /Length \(p.jpeg.count) >>\nstream\n"
                    .utf8)
            image.append(p.jpeg)
            image.append(Data("\nendstream".utf8))
            object(imageObj, image)
        }
        let xref = out.count
        var table = "xref\n0 \(offsets.count)\n0000000000 65535 f \n"
        for o in offsets.dropFirst() { table += String(format: "%010d 00000 n \n", o) }
        table += "trailer\n<< /Size \(offsets.count) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        out.append(Data(table.utf8))
        return out
    }
}
