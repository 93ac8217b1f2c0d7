/// The help line of every metric lazydisk exports: Prometheus shows it to
/// operators, and its lint (`promtool check metrics`) refuses a metric
/// without one. The libraries name their metrics through swift-metrics,
/// which carries no help text, so the text lives here, by name.
enum MetricHelp {
    static func text(for name: String) -> String {
        texts[name] ?? ""
    }

    private static let texts = [
        "lazydisk_http_requests_total":
            "HTTP requests sent to the image's server, each retry and redirect one, by purpose (probe, read, readahead, fill) and status (none: no answer).",
        "lazydisk_http_received_bytes_total": "Bytes of HTTP response bodies received, by purpose.",
        "lazydisk_http_request_duration_seconds": "Time from sending an HTTP request to the end of its body, by purpose.",
        "lazydisk_fetches_in_flight": "Range requests downloading now.",
        "lazydisk_nbd_connections": "NBD client connections open now.",
        "lazydisk_nbd_connections_total": "NBD client connections accepted.",
        "lazydisk_guests": "Guests a serve with a glob --export-name holds now, each with an overlay of its own.",
        "lazydisk_guests_freed_total": "Guests freed after their grace period without a connection.",
        "lazydisk_guest_requests_total": "NBD requests the guest sent, answered or failed, by command.",
        "lazydisk_guest_read_bytes_total": "Bytes the guest read (successful reads).",
        "lazydisk_guest_written_bytes_total": "Bytes the guest wrote into the RAM overlay (successful writes and write-zeroes).",
        "lazydisk_guest_request_failures_total": "NBD requests that failed, by cause.",
        "lazydisk_disk_reads_total": "Reads of the disk below the RAM overlay's top (every guest read, and the server's own).",
        "lazydisk_cache_hits_total": "Disk reads the file cache answered without fetching.",
        "lazydisk_cache_misses_total": "Disk reads that needed bytes the cache did not hold.",
        "lazydisk_cache_bytes": "Bytes of the image the file cache holds.",
        "lazydisk_cache_coverage_ratio": "Share of the image the file cache holds, from 0 to 1.",
        "lazydisk_disk_size_bytes": "Size of the served disk.",
        "lazydisk_credential_refreshes_total": "Credential refreshes (--url-command, --header-command, AWS keys), by result (ok, failed).",
    ]
}
