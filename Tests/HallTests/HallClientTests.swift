import Foundation
import HallClient
import Testing

@Suite("HallClient", .timeLimit(.minutes(3)))
struct HallClientTests {
    @Test("the event-stream parser keeps bytes until a message is whole: Chinese split between reads arrives intact, at any split point")
    func sseSplitAnywhere() {
        let text = "id: 41\nevent: display.content\ndata: {\"lines\":[\"A012 请到3号窗口\"]}\n\n: keep-alive\n\nid: 42\nevent: keypad.rating\ndata: {\"label\":\"满意\"}\n\n"
        let bytes = Array(text.utf8)
        let expected = [
            SSEMessage(id: "41", event: "display.content", data: "{\"lines\":[\"A012 请到3号窗口\"]}"),
            SSEMessage(id: "42", event: "keypad.rating", data: "{\"label\":\"满意\"}"),
        ]
        for split in 1..<bytes.count {
            var parser = SSEParser()
            let got = parser.feed(Data(bytes[..<split])) + parser.feed(Data(bytes[split...]))
            #expect(got == expected, "split at byte \(split)")
        }
        var oneByOne = SSEParser()
        #expect(bytes.flatMap { oneByOne.feed(Data([$0])) } == expected)
    }

    @Test("CRLF and CR line ends, multi-line data, and comments")
    func sseLineEnds() {
        var parser = SSEParser()
        let got = parser.feed(Data("id: 1\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\n: c\r\n\r\nid: 2\rdata: z\r\r".utf8))
        // A CR at the very end may be the first half of a CRLF: the message waits for the next byte.
        #expect(got == [SSEMessage(id: "1", event: "a", data: "x\ny")])
        #expect(parser.feed(Data("\n".utf8)) == [SSEMessage(id: "2", event: "message", data: "z")])
    }
}
