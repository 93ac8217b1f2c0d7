import HTTPClient
import ImageModel

extension RemoteIdentity {
    /// The precondition every read carries, so the server refuses (412) once
    /// the object has changed: `If-Match` on a strong ETag, else
    /// `If-Unmodified-Since`.
    var readPrecondition: HTTPHeader? {
        if let strongETag {
            return HTTPHeader(name: "If-Match", value: strongETag)
        }
        return lastModified.map { HTTPHeader(name: "If-Unmodified-Since", value: $0) }
    }

    /// Whether an answer carrying these validators can be of the object
    /// `identity` names: its strong ETag where it has one, else its
    /// Last-Modified. An answer without the validator is not held against
    /// it, as reads do not hold it.
    func hasValidators(of identity: RemoteIdentity) -> Bool {
        if let strongETag = identity.strongETag {
            return etag.map { $0 == strongETag } ?? true
        }
        if let lastModified = identity.lastModified {
            return self.lastModified.map { $0 == lastModified } ?? true
        }
        return true
    }

    /// Says how `self` differs from `old`, for error messages.
    func changes(from old: RemoteIdentity) -> String {
        var changes: [String] = []
        if size != old.size { changes.append("size \(old.size) -> \(size)") }
        if etag != old.etag { changes.append("ETag \(old.etag ?? "none") -> \(etag ?? "none")") }
        if lastModified != old.lastModified {
            changes.append("Last-Modified \(old.lastModified ?? "none") -> \(lastModified ?? "none")")
        }
        return changes.isEmpty ? "no difference" : changes.joined(separator: ", ")
    }
}
