import Foundation
import Testing

/// docs/ARCHITECTURE.md's table of which module may import which, held against the
/// `import` lines of every Swift file under Sources.
@Suite("module graph", .timeLimit(.minutes(1)))
struct ModuleGraphTests {
    /// `module → allowed project modules`, from the table's rows (`| \`A\` | \`B\`, \`C\` |`).
    static func allowed() throws -> [String: Set<String>] {
        let doc = try String(contentsOfFile: repositoryRoot + "/docs/ARCHITECTURE.md", encoding: .utf8)
        var graph: [String: Set<String>] = [:]
        for line in doc.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            let names: (Substring) -> [String] = { cell in
                cell.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            }
            let allowed = Set(names(Substring(cells[1])))
            for module in names(Substring(cells[0])) { graph[module] = allowed }
        }
        return graph
    }

    @Test("every import of a project module in Sources is an edge docs/ARCHITECTURE.md allows, and every module is in the table")
    func importsFollowTheGraph() throws {
        let graph = try Self.allowed()
        let sources = repositoryRoot + "/Sources"
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources).filter { !$0.hasPrefix(".") }.sorted()
        #expect(Set(modules) == Set(graph.keys), "modules missing from the table: \(Set(modules).subtracting(graph.keys).sorted()); rows without a module: \(Set(graph.keys).subtracting(modules).sorted())")
        var violations: [String] = []
        for module in modules {
            guard let files = FileManager.default.enumerator(atPath: sources + "/" + module) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: sources + "/" + module + "/" + file, encoding: .utf8)
                for line in text.split(separator: "\n") {
                    let words = line.split(separator: " ")
                    guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") || ["public", "internal", "private", "package"].contains(String($0)) }),
                        i + 1 < words.count
                    else { continue }
                    let imported = String(words[i + 1])
                    if modules.contains(imported), imported != module, graph[module]?.contains(imported) != true {
                        violations.append("Sources/\(module)/\(file): import \(imported)")
                    }
                }
            }
        }
        #expect(violations.isEmpty, "imports the graph does not allow (change docs/ARCHITECTURE.md with the code): \(violations)")
    }

    @Test("the graph test notices a forbidden edge")
    func forbiddenEdge() throws {
        let graph = try Self.allowed()
        #expect(graph["DeviceKit"]?.isEmpty == true, "DeviceKit imports no project module")
        #expect(graph["HallClient"]?.contains("HallDaemon") == false)
        #expect(graph["hallctl"]?.contains("HallClient") == true)
    }
}
