import Foundation
import SystemPackage
import Testing
@testable import FileCache

@Suite("A cache in use")
struct CacheUseTests {
    /// A prune in another process can move a cache's directory aside
    /// between an opener making it and locking its `inuse` file. The opener
    /// makes it again and holds it, so no other prune removes the cache it
    /// is about to create (a pull failed with "renaming meta.new" when it
    /// went on unlocked).
    @Test func aDirectoryPrunedBeforeTheLockIsMadeAgainAndHeld() throws {
        let root = CacheDirectory()
        try FileManager.default.createDirectory(atPath: root.path.string, withIntermediateDirectories: true)
        let directory = root.path.appending("image")
        let use = CacheUse(directory: directory, countsAsUse: true)
        #expect(CacheUse.isUsed(directory))
        #expect(!CacheLocation(root: root.path).remove(directory), "a prune leaves it alone")
        withExtendedLifetime(use) {}
    }
}
