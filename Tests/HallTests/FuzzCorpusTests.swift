import Foundation
import FuzzTargets
import Testing

/// The committed fuzz corpora (Fuzz/corpus: seeds and what libFuzzer kept) and
/// every input that once failed (Fuzz/regressions) run through their targets on
/// each test run: a fixed bug stays fixed.
@Suite("fuzz corpora and regressions", .timeLimit(.minutes(3)))
struct FuzzCorpusTests {
    @Test("every committed input of every target runs clean", arguments: FuzzTarget.allCases)
    func corpus(_ target: FuzzTarget) throws {
        var count = 0
        for kind in ["corpus", "regressions"] {
            let dir = repositoryRoot + "/Fuzz/\(kind)/\(target.rawValue)"
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                let data = try #require(FileManager.default.contents(atPath: dir + "/" + name))
                do {
                    try target.run(Array(data))
                } catch {
                    Issue.record("\(kind)/\(target.rawValue)/\(name): \(error)")
                }
                count += 1
            }
        }
        #expect(count >= 3, "\(target.rawValue) has \(count) committed inputs")
    }
}
