import Foundation

/// Runs a program to completion and returns what it printed on stdout;
/// throws ``ToolFailure`` when it exits non-zero. Blocks the calling thread.
@discardableResult
public func runTool(_ path: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ToolFailure(path: path, arguments: arguments, status: process.terminationStatus)
    }
    return data
}

/// A program run by ``runTool(_:_:)`` that exited non-zero.
public struct ToolFailure: Error, CustomStringConvertible {
    public var path: String
    public var arguments: [String]
    public var status: Int32

    public var description: String { "\(path) \(arguments.joined(separator: " ")) exited with status \(status)" }
}
