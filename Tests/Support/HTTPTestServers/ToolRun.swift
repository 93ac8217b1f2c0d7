import Foundation

/// Runs a program to completion and returns what it printed on stdout;
/// throws ``ToolFailure`` when it exits non-zero. Blocks the calling thread.
@discardableResult
public func runTool(_ path: String, _ arguments: [String]) throws -> Data {
    let pipe = try closeOnExecPipe()
    let tool: ChildProcess
    do {
        defer { close(pipe.write) }
        tool = try ChildProcess(path, arguments, output: .descriptor(pipe.write))
    } catch {
        close(pipe.read)
        throw error
    }
    let data = FileHandle(fileDescriptor: pipe.read, closeOnDealloc: true).readDataToEndOfFile()
    let termination = tool.waitBlocking()
    guard termination == .exited(0) else {
        throw ToolFailure(path: path, arguments: arguments, termination: termination)
    }
    return data
}

/// A program run by ``runTool(_:_:)`` that did not exit with status 0.
public struct ToolFailure: Error, CustomStringConvertible {
    public var path: String
    public var arguments: [String]
    public var termination: ChildProcess.Termination

    public var description: String { "\(path) \(arguments.joined(separator: " ")) ended with \(termination)" }
}

/// Where a system tool is (`veritysetup`, `mkfs.ext4`): often in sbin,
/// which a non-root PATH may lack.
public func systemToolPath(_ name: String) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin"].map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? name
}

/// `veritysetup` (Debian cryptsetup-bin), which makes the hash trees tests
/// verify against.
public let veritysetupPath = systemToolPath("veritysetup")
