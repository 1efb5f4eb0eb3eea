import Foundation
import FuzzTargets

#if FUZZING
// Built by `make fuzz` with -sanitize=fuzzer. SwiftPM links an executable's entry
// point by the name hall_fuzz_main; it hands the command line to libFuzzer's driver,
// which calls LLVMFuzzerTestOneInput for every input. The target comes from HALL_FUZZ_TARGET (hallbus, profile, modbus,
// escpos, config, api); an invariant that breaks stops the run like a crash.
nonisolated(unsafe) let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["HALL_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set HALL_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'")
    }
    return target
}()

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("hall_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzOne(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try selected.run(bytes)
    } catch {
        fatalError("\(selected.rawValue): \(error)")
    }
    return 0
}
#else
/// `hall-fuzz seed FOLDER CONFIG_FOLDER`: writes each target's seed inputs to
/// FOLDER/TARGET/NAME (the committed corpora under Fuzz/corpus).
func seed(into folder: String, configFolder: String) {
    var configs: [String: String] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: configFolder)) ?? [] where name.hasSuffix(".toml") {
        configs[String(name.dropLast(5))] = try? String(contentsOfFile: configFolder + "/" + name, encoding: .utf8)
    }
    for target in FuzzTarget.allCases {
        let dir = folder + "/" + target.rawValue
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, bytes) in target.seeds(configFiles: configs) {
            FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes))
        }
    }
}

/// Without the fuzzer: replays inputs (a crash file libFuzzer wrote, a corpus
/// folder) through a target and says which fail: `hall-fuzz TARGET PATH…`.
@main
struct HallFuzz {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        if args.first == "seed", args.count == 3 {
            seed(into: args[args.startIndex + 1], configFolder: args[args.startIndex + 2])
            return
        }
        guard let name = args.first, let target = FuzzTarget(rawValue: name), args.count > 1 else {
            FileHandle.standardError.write(Data("usage: hall-fuzz {\(FuzzTarget.allCases.map(\.rawValue).joined(separator: ","))} FILE_OR_FOLDER…\n".utf8))
            exit(2)
        }
        var inputs: [String] = []
        for path in args.dropFirst() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("\(path): no such file\n".utf8))
                exit(2)
            }
            if isFolder.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                inputs += names.sorted().map { path + "/" + $0 }
            } else {
                inputs.append(path)
            }
        }
        var failed = 0
        for input in inputs {
            guard let data = FileManager.default.contents(atPath: input) else { continue }
            do {
                try target.run(Array(data))
            } catch {
                failed += 1
                FileHandle.standardOutput.write(Data("FAIL \(input): \(error)\n".utf8))
            }
        }
        FileHandle.standardOutput.write(Data("\(target.rawValue): \(inputs.count) inputs, \(failed) failed\n".utf8))
        exit(failed == 0 ? 0 : 1)
    }
}
#endif
