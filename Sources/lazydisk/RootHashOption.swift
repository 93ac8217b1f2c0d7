import ArgumentParser

/// `--root-hash` for the `cache` commands that find an image's cache
/// without opening the image: a verified image's cache is named by its root
/// hash, not by its URL.
struct RootHashOption: ParsableArguments {
    @Option(help: ArgumentHelp("The image is verified against this root hash (hex): its cache is found by it.", valueName: "hex"))
    var rootHash: String?
}
