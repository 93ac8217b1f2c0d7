import ImageModel
import Testing

@Suite("URL redaction")
struct ImageURLTests {
    @Test func queryIsShownAsAnEllipsis() throws {
        let url = try ImageURL("https://bucket.s3.amazonaws.com/disk.img?X-Amz-Signature=abc123&X-Amz-Credential=key")
        #expect(url.description == "https://bucket.s3.amazonaws.com/disk.img?…")
        #expect(url.withoutQuery == "https://bucket.s3.amazonaws.com/disk.img")
        #expect("\(url)".contains("abc123") == false)
    }

    @Test func credentialsAreDropped() throws {
        let url = try ImageURL("http://user:hunter2@example.com:8080/a/b.vhd")
        #expect(url.description == "http://example.com:8080/a/b.vhd")
    }

    @Test func urlWithoutQueryIsShownWhole() throws {
        #expect(try ImageURL("http://127.0.0.1:8080/hello.img").description == "http://127.0.0.1:8080/hello.img")
    }

    @Test(arguments: ["ftp://host/file?sig=SECRET", "not a url?sig=SECRET", "http:///nohost?sig=SECRET", "/relative?sig=SECRET"])
    func badURLsAreRefusedWithoutTheirSecret(text: String) {
        #expect {
            try ImageURL(text)
        } throws: { error in
            guard let invalid = error as? InvalidImageURL else { return false }
            return !invalid.redacted.contains("SECRET") && !"\(error)".contains("SECRET")
        }
    }

    @Test func freeTextRedaction() {
        #expect(ImageURL.redact("https://u:p@host/x?token=1") == "https://host/x?…")
    }
}
