import Foundation
import HallAPIModels
import HallClient
import Testing
import UnixSockets
#if canImport(Glibc)
import Glibc
#endif

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

    @Test("a socket nobody listens on is named with what to do; a daemon that accepts and never answers fails the call at its timeout, naming the route")
    func failures() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let _: InfoResponse = try await HallClient(socketPath: dir + "/none.sock").call("GET", "/v1/info")
            Issue.record("a call to a missing socket succeeded")
        } catch {
            #expect("\(error)" == "cannot reach halld at \(dir)/none.sock: No such file or directory (is halld running? set --socket or HALLD_SOCKET)")
        }
        // A listener that accepts (the kernel's backlog) and never reads or answers.
        let silent = try UnixSocket.bind(dir + "/silent.sock")
        defer { close(silent) }
        var client = HallClient(socketPath: dir + "/silent.sock")
        client.timeout = 0.5
        let started = ContinuousClock.now
        do {
            _ = try await client.send("GET", "/v1/hall")
            Issue.record("a call to a silent daemon succeeded")
        } catch {
            #expect("\(error)" == "halld did not answer GET /v1/hall within 0.5 s")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }
}
