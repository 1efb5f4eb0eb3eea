import Foundation

/// A one-page A4 PDF with two lines of ASCII text (Helvetica), for the external
/// health check of an A4 queue. Written by hand: objects, an xref table with
/// their byte offsets, and the trailer.
enum TestPage {
    static func pdf(title: String, line: String) -> Data {
        func escape(_ s: String) -> String {
            String(s.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" }).replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "(", with: "\\(").replacingOccurrences(of: ")", with: "\\)")
        }
        let content = "BT /F1 24 Tf 72 760 Td (\(escape(title))) Tj ET\nBT /F1 12 Tf 72 730 Td (\(escape(line))) Tj ET\n"
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            "<< /Length \(content.utf8.count) >>\nstream\n\(content)endstream",
        ]
        var out = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (i, body) in objects.enumerated() {
            offsets.append(out.utf8.count)
            out += "\(i + 1) 0 obj\n\(body)\nendobj\n"
        }
        let xref = out.utf8.count
        out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for o in offsets { out += String(format: "%010d 00000 n \n", o) }
        out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return Data(out.utf8)
    }
}
