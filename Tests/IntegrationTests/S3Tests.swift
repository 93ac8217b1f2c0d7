import Foundation
import HTTPTestServers
import Testing

/// `s3://` images in a private bucket: moto_server with authentication
/// enforced, so only requests libcurl signed with the right keys read it.
@Suite("Private S3 buckets")
struct S3Tests {
    static let size = 3 << 20
    static let url = "s3://images/disk.img"

    final class Setup: Sendable {
        let work: TemporaryDirectory
        let moto: MotoServer
        let image: Data

        /// moto with one random object, `key`, in the bucket `images`.
        init(key: String = "disk.img", size: Int = S3Tests.size) throws {
            work = try TemporaryDirectory()
            let file = work.url.appending(path: key)
            try randomFile(at: file, size: size)
            image = try Data(contentsOf: file)
            moto = try MotoServer(bucket: "images", files: [file])
        }

        /// The endpoint and region, no keys, and a home with no `~/.aws`.
        var base: [String: String] {
            [
                "AWS_ENDPOINT_URL": moto.endpoint, "AWS_REGION": "us-east-1", "HOME": work.url.path,
                "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
            ]
        }

        var userKeys: [String: String] {
            base.merging(["AWS_ACCESS_KEY_ID": moto.keys.accessKeyId, "AWS_SECRET_ACCESS_KEY": moto.keys.secretAccessKey]) { $1 }
        }

        /// No key, secret or token of moto's in `text`.
        func expectNoSecret(in text: String, _ what: String) {
            let secrets = [moto.keys.secretAccessKey, moto.keys.sessionSecretAccessKey, moto.keys.sessionToken]
            #expect(!secrets.contains { text.contains($0) }, "a secret in \(what)")
        }

        func expectNoSecret(inFilesUnder directory: URL) {
            for file in FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)?.compactMap({ $0 as? URL }) ?? [] {
                expectNoSecret(in: String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self), file.lastPathComponent)
            }
        }
    }

    /// A bucket or region with `:`, `@` or `#` in it would move the signed
    /// request, keys and signature with it, to another host: it is refused
    /// by name, and nothing connects to the host it names.
    @Test(.timeLimit(.minutes(5))) func namesCannotSendSignedRequestsElsewhere() async throws {
        let setup = try Setup()
        let listener = try QuietListener()
        let onAWS = setup.userKeys.merging(["AWS_ENDPOINT_URL": ""]) { $1 }
        let bucket = try await LazyDiskRun.run(["cat", "s3://localhost:\(listener.port)#/disk.img", "--no-cache"], environment: onAWS)
        #expect(bucket.error.contains("'localhost:\(listener.port)#' is not an S3 bucket name"), "\(bucket.error)")
        let region = try await LazyDiskRun.run(
            ["cat", Self.url, "--no-cache"], environment: onAWS.merging(["AWS_REGION": "x@localhost:\(listener.port)#"]) { $1 })
        #expect(region.error.contains("'x@localhost:\(listener.port)#' is not an AWS region name"), "\(region.error)")
        #expect(!listener.wasConnected, "a signed request went to the host a name carried")
    }

    /// `a/../disk.img` is a key of its own, signed and sent as it is (moto
    /// has no such object), not flattened by curl into `disk.img` after it
    /// was signed.
    @Test(.timeLimit(.minutes(5))) func aKeyWithDotSegmentsStaysTheObjectsName() async throws {
        let setup = try Setup()
        let result = try await LazyDiskRun.run(["cat", "s3://images/a/../disk.img", "--no-cache"], environment: setup.userKeys)
        #expect(result.status != 0)
        #expect(result.error.contains("404") && !result.error.contains("Signature"), "\(result.error)")
    }

    /// A key with a space, `+`, `~`, `=` and a letter outside ASCII reaches
    /// its object, signed: the key goes into the URL a byte at a time, each
    /// but the unreserved ones as `%XX` (a space left as it is makes no URL).
    @Test(.timeLimit(.minutes(5))) func aKeyWithSpacesAndLettersOutsideASCIIIsRead() async throws {
        let setup = try Setup(key: "a b+c~d=é.img", size: 64 << 10)
        let cat = try await LazyDiskRun.run(["cat", "s3://images/a b+c~d=é.img", "--no-cache"], environment: setup.userKeys)
        #expect(cat.status == 0, "\(cat.error)")
        #expect(cat.output == setup.image)
    }

    @Test(.timeLimit(.minutes(5))) func exactBytesThroughCatPullAndServe() async throws {
        let setup = try Setup()
        let cat = try await LazyDiskRun.run(["cat", Self.url, "--no-cache"], environment: setup.userKeys)
        #expect(cat.status == 0, "\(cat.error)")
        #expect(cat.output == setup.image)

        let cache = setup.work.url.appending(path: "cache").path
        let pull = try await LazyDiskRun.run(["pull", Self.url, "--cache", cache], environment: setup.userKeys)
        #expect(pull.status == 0, "\(pull.error)")
        let offline = try await LazyDiskRun.run(["cat", Self.url, "--cache", cache, "--offline"], environment: setup.base)
        #expect(offline.output == setup.image, "\(offline.error)")

        let copy = setup.work.url.appending(path: "copy.img").path
        let serve = try await LazyDiskRun.run(
            ["serve", Self.url, "-r", "--cache", setup.work.url.appending(path: "cache2").path, "--run", "nbdcopy \"$uri\" \(copy)"],
            environment: setup.userKeys)
        #expect(serve.status == 0, "\(serve.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == setup.image)

        let info = try await LazyDiskRun.run(["info", Self.url], environment: setup.userKeys)
        #expect(String(decoding: info.output, as: UTF8.self).contains("keys from environment"), "\(info.error)")
        for (what, text) in [("cat", cat.error), ("pull", pull.error + String(decoding: pull.output, as: UTF8.self)),
                             ("serve", serve.error), ("info", String(decoding: info.output, as: UTF8.self))] {
            setup.expectNoSecret(in: text, what)
        }
        setup.expectNoSecret(inFilesUnder: setup.work.url.appending(path: "cache"))
    }

    /// `--aws-sigv4` signs an https (here http) URL of an S3-compatible
    /// endpoint given as it is, path-style; unsigned, the bucket refuses.
    @Test(.timeLimit(.minutes(5))) func awsSigV4SignsAPlainURL() async throws {
        let setup = try Setup()
        let url = "\(setup.moto.endpoint)/images/disk.img"
        let signed = try await LazyDiskRun.run(["cat", url, "--aws-sigv4", "--no-cache"], environment: setup.userKeys)
        #expect(signed.output == setup.image, "\(signed.error)")
        let unsigned = try await LazyDiskRun.run(["cat", url, "--no-cache"], environment: setup.userKeys)
        #expect(unsigned.status != 0 && unsigned.error.contains("403"), "\(unsigned.error)")
    }

    @Test(.timeLimit(.minutes(5))) func aWrongSecretIsOneLineSayingTheSignatureWasRefused() async throws {
        let setup = try Setup()
        let wrong = setup.userKeys.merging(["AWS_SECRET_ACCESS_KEY": "not-the-secret-0123456789"]) { $1 }
        let result = try await LazyDiskRun.run(["cat", Self.url, "--no-cache"], environment: wrong)
        #expect(result.status != 0 && result.output.isEmpty)
        let message = result.error.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!message.contains("\n") && message.contains("the signature was refused"), "\(result.error)")
        #expect(!message.contains("not-the-secret"))
    }

    @Test(.timeLimit(.minutes(5))) func sessionTokensAndProfilesAreUsed() async throws {
        let setup = try Setup()
        let session = setup.base.merging([
            "AWS_ACCESS_KEY_ID": setup.moto.keys.sessionAccessKeyId, "AWS_SECRET_ACCESS_KEY": setup.moto.keys.sessionSecretAccessKey,
            "AWS_SESSION_TOKEN": setup.moto.keys.sessionToken,
        ]) { $1 }
        let withToken = try await LazyDiskRun.run(["cat", Self.url, "--no-cache"], environment: session)
        #expect(withToken.output == setup.image, "\(withToken.error)")
        let withoutToken = try await LazyDiskRun.run(
            ["cat", Self.url, "--no-cache"], environment: session.merging(["AWS_SESSION_TOKEN": ""]) { $1 })
        #expect(withoutToken.status != 0, "temporary keys worked without their session token")
        setup.expectNoSecret(in: withToken.error + withoutToken.error, "cat's output")

        let aws = setup.work.url.appending(path: ".aws")
        try FileManager.default.createDirectory(at: aws, withIntermediateDirectories: true)
        try Data("""
            [default]
            aws_access_key_id = AKIAWRONGWRONGWRONG
            aws_secret_access_key = wrong
            [reader]
            aws_access_key_id = \(setup.moto.keys.accessKeyId)
            aws_secret_access_key = \(setup.moto.keys.secretAccessKey)

            """.utf8).write(to: aws.appending(path: "credentials"))
        try Data("[profile reader]\nregion = us-east-1\n".utf8).write(to: aws.appending(path: "config"))
        let profile = setup.base.merging(["AWS_PROFILE": "reader", "AWS_REGION": ""]) { $1 }
        let fromProfile = try await LazyDiskRun.run(["cat", Self.url, "--no-cache"], environment: profile)
        #expect(fromProfile.output == setup.image, "\(fromProfile.error)")
        let info = try await LazyDiskRun.run(["info", Self.url], environment: profile)
        let text = String(decoding: info.output, as: UTF8.self)
        #expect(text.contains("profile reader in") && text.contains("us-east-1"), "\(text)\(info.error)")
        setup.expectNoSecret(in: text, "info")
    }
}
