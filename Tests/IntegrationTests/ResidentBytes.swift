import Foundation
import SystemPackage

/// How many bytes of the file at `path` the page cache holds now (`mincore`
/// over a read-only mapping of it, as `fincore` counts).
func residentBytes(of path: FilePath) throws -> Int {
    let descriptor = try FileDescriptor.open(path, .readOnly)
    defer { try? descriptor.close() }
    let size = Int(try descriptor.seek(offset: 0, from: .end))
    guard size > 0 else { return 0 }
    guard let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor.rawValue, 0), mapping != MAP_FAILED else {
        throw Errno(rawValue: errno)
    }
    defer { munmap(mapping, size) }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    var pages = [UInt8](repeating: 0, count: (size + page - 1) / page)
    guard mincore(mapping, size, &pages) == 0 else { throw Errno(rawValue: errno) }
    return pages.filter { $0 & 1 != 0 }.count * page
}
