// img-proxyd's settings table (docs/configuration.md and img-transfer.toml(5) are generated from
// it).
#include "proxy_config.hpp"

#include "config/setting_values.hpp"

namespace imgx::proxyd {

namespace {

using O = ProxyOptions;
using config::OnReload;

config::Setting<O> cache_row() {
    return config::address_setting<O>(
        {.key = "cache",
         .flag = "--cache",
         .flag_value = "HOST:PORT",
         .help = "img-cached's link address, e.g. dest.example:7411",
         .doc = "img-cached's link address, e.g. `\"dest.example:7411\"`"},
        &O::cache, /*allow_port_zero=*/false);
}

config::Setting<O> chain_memory_row() {
    return config::field_setting<O, std::uint64_t>(
        {.key = "chain_memory_mib",
         .flag = "--chain-memory",
         .flag_value = "MIB",
         .kind = config::ValueKind::integer,
         .detail = "1-" + std::to_string(kMaxChainMemoryMib),
         .help = "memory for images kept during --remote pre-dump chains, in MiB",
         .doc =
             "memory (MiB) for images kept during `--remote` pre-dump chains; a chain that would "
             "exceed it fails loudly (docs/operations.md, \"Memory budgets\")"},
        &O::chain_memory_bytes,
        [](const config::Section& s, O& o) {
            s.integer("chain_memory_mib", 1, kMaxChainMemoryMib,
                      [&](std::int64_t v) { o.chain_memory_bytes = std::uint64_t(v) << 20; });
        },
        [](std::string_view v, O& o) {
            o.chain_memory_bytes = std::uint64_t(config::parse_number(v, 1, kMaxChainMemoryMib))
                                   << 20;
        },
        [](const O& o) { return std::to_string(o.chain_memory_bytes >> 20); });
}

// img-proxyd's own rows, between the shared ones (daemon_settings_table gives the order).
// Longer than 60 lines: it is data, one row per key, and reads best as one list.
config::Setting<O> compress_row() {
    return config::field_setting<O, link::CompressMode>(
        {.key = "compress",
         .flag = "--compress",
         .flag_value = "MODE",
         .detail = "`off`, `zstd` or `auto`",
         .help = "compression of chunks on the link: off, zstd (always) or auto (when the link "
                 "is the limit and the chunks shrink)",
         .doc = "compression of file chunks on the link (docs/link-protocol.md, \"Compression\"; "
                "docs/operations.md, \"Compression on the link\"): `off`; `zstd`, every chunk "
                "(a chunk that does not shrink goes as it is); `auto`, a chunk is compressed only "
                "when the link, not CRIU or the CPU, limits the transfer, a worker thread is free, "
                "and the file's recent chunks shrank. An img-cached without compression gets "
                "none. Applies to the next chunk; offered to img-cached from the next link "
                "session"},
        &O::compress,
        [](const config::Section& s, O& o) {
            s.string("compress", [&](std::string_view v) {
                o.compress = link::parse_compress_mode(std::string(v));
            });
        },
        [](std::string_view v, O& o) { o.compress = link::parse_compress_mode(std::string(v)); },
        [](const O& o) { return config::quoted(link::compress_mode_name(o.compress)); });
}

config::Setting<O> compress_level_row() {
    const std::string range =
        std::to_string(link::kMinCompressLevel) + " to " + std::to_string(link::kMaxCompressLevel);
    return config::field_setting<O, int>(
        {.key = "compress_level",
         .flag = "--compress-level",
         .flag_value = "N",
         .kind = config::ValueKind::integer,
         .detail = range,
         .help = "zstd level of compressed chunks (negative: zstd's fast levels)",
         .doc = "zstd level of compressed chunks, " + range +
                "; negative levels are zstd's fast levels (`-1` is `zstd --fast=1`), higher "
                "levels shrink more for more CPU per byte"},
        &O::compress_level,
        [](const config::Section& s, O& o) {
            s.integer("compress_level", link::kMinCompressLevel, link::kMaxCompressLevel,
                      [&](std::int64_t v) { o.compress_level = static_cast<int>(v); });
        },
        [](std::string_view v, O& o) {
            const std::string text(v);
            std::size_t used = 0;
            int level = 0;
            try {
                level = std::stoi(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != text.size() || text.empty() || level < link::kMinCompressLevel ||
                level > link::kMaxCompressLevel)
                throw std::invalid_argument("'" + text + "' is not a zstd level from " +
                                            std::to_string(link::kMinCompressLevel) + " to " +
                                            std::to_string(link::kMaxCompressLevel));
            o.compress_level = level;
        },
        [](const O& o) { return std::to_string(o.compress_level); });
}

config::SettingsTable<O> proxy_rows() {
    config::SettingsTable<O> rows;
    rows.push_back(config::number_setting<O>(
        {.key = "buffers",
         .flag = "--buffers",
         .flag_value = "N",
         .help = "1 MiB chunks in flight, the proxy's data memory budget",
         .doc = "1 MiB chunks in flight: the proxy's whole data memory; when the link is slow the "
                "proxy stops reading CRIU's pipes",
         .reload = OnReload::restart},
        &O::buffer_count, kMinBuffers, kMaxBuffers));
    rows.push_back(config::number_setting<O>(
        {.key = "capture_buffer_mib",
         .flag = "--capture-buffer",
         .flag_value = "MIB",
         .help = "memory CRIU's --stream pipes are drained into at memory speed, so the dump ends "
                 "before the link has sent it (0: drained at the link's speed through --buffers)",
         .doc = "memory (MiB) that CRIU's `--stream` pipes are drained into at memory speed by a "
                "thread of its own, so CRIU's dump (the freeze) ends before the link has sent "
                "everything; the link sends from it, and a chunk stays there until img-cached "
                "acknowledges it (the capture buffer is also the link's in-flight memory for "
                "these dumps). When it is full CRIU waits. The capture thread faults it in as "
                "img-proxyd starts (fresh pages are slower than the copy into them), so it is "
                "resident from then on: img-proxyd's RSS is about this plus 30 MiB. `0`: the pipes "
                "are drained on "
                "the event loop through `buffers`, at the link's speed (docs/operations.md, "
                "\"Memory budgets\")",
         .reload = OnReload::restart},
        &O::capture_buffer_mib, 0, kMaxCaptureBufferMib));
    rows.push_back(config::number_setting<O>(
        {.key = "link_wait_seconds",
         .flag = "--link-wait",
         .flag_value = "SECONDS",
         .help = "how long a new dump waits for an unreachable img-cached",
         .doc = "how long a new dump waits for an unreachable img-cached before it fails"},
        &O::link_wait_seconds, 0, kMaxLinkWaitSeconds));
    rows.push_back(config::number_setting<O>(
        {.key = "link_retry_seconds",
         .flag = "--link-retry",
         .flag_value = "SECONDS",
         .help = "how long a lost link may take to reconnect and resume its dumps before they fail "
                 "(0: fail at once)",
         .doc = "after the link is lost, how long img-proxyd tries to reconnect and resume the "
                "unfinished dumps (docs/link-protocol.md, \"Resume\") before they fail; `0`: they "
                "fail at once"},
        &O::link_retry_seconds, 0, kMaxLinkRetrySeconds));
    rows.push_back(config::number_setting<O>(
        {.key = "link_idle_timeout_seconds",
         .flag = "--link-idle-timeout",
         .flag_value = "SECONDS",
         .help =
             "a link with no answer from img-cached this long counts as lost and is reconnected",
         .doc = "a link that brings nothing from img-cached, or no acknowledgement while data is "
                "outstanding, for this long counts as lost and is reconnected (raise it for links "
                "slower than 1 MiB per this time); applies from the next connection"},
        &O::link_idle_timeout_seconds, 1, kMaxLinkIdleTimeoutSeconds));
    rows.push_back(config::number_setting<O>(
        {.key = "link_streams",
         .flag = "--link-streams",
         .flag_value = "N",
         .help = "TCP connections (lanes) to img-cached; each chunk of file data goes to the lane "
                 "where it is expected to arrive first",
         .doc =
             "TCP connections (lanes) of the link session to img-cached; with more than one, each "
             "chunk of file data goes to the lane where it is expected to arrive first: (bytes on "
             "their way + the chunk) / the lane's measured delivery rate, smallest wins; "
             "img-cached "
             "puts the data back in order (docs/link-protocol.md, \"Lanes\"). Helps a link where "
             "one TCP flow is limited by its window, loss or per-flow shaping; it adds no "
             "encryption throughput (TLS still runs on the daemons' one thread). img-cached needs "
             "no setting: it accepts up to 16 lanes per session. An older img-cached answers with "
             "one lane",
         .reload = OnReload::restart},
        &O::link_streams, 1, kMaxLinkStreams));
    rows.push_back(compress_row());
    rows.push_back(compress_level_row());
    rows.push_back(config::remote_data_setting<O>(
        &O::remote_reads_on_socket,
        "how --remote dumps read parent images: pipe (2020 builds) or socket (2017-2019 builds)",
        "how `criu dump --remote` reads parent images: `pipe` (CRIU's 2020 builds) or `socket` "
        "(2017-2019 builds)"));
    rows.push_back(chain_memory_row());
    return rows;
}

const config::SettingsTable<O>& proxy_table() {
    static const auto table = daemon_settings_table<O>(
        cache_row(), proxy_rows(), link::TlsRole::client,
        {.key = "capture",
         .flag = "--capture",
         .doc =
             "capture endpoints opened at start, one table each (`img-ctl capture` opens more at "
             "run time): `dir`, CRIU's `-D` directory (required), where img-proxyd listens on "
             "`streamer-capture.sock` (`--stream`) and `img-proxy.sock` (`--remote`); `snapshot`, "
             "the snapshot id (for `--remote`, the pre-dump chain name), default the last "
             "component of `dir`"});
    return table;
}

}  // namespace

const CommandSpec<ProxyOptions>& proxy_command_spec() {
    static const CommandSpec<ProxyOptions> spec{
        .table = &proxy_table(),
        .usage =
            {.program = "img-proxyd",
             .default_config = kDefaultProxyConfig,
             .description =
                 "Receives image files from `criu dump --stream -D DIR` on "
                 "DIR/streamer-capture.sock, and from `criu dump/pre-dump --remote -D DIR` "
                 "on DIR/img-proxy.sock, and forwards them to img-cached while CRIU "
                 "writes them.",
             .notes =
                 "For --remote, the endpoint's SNAPSHOT part names the chain: give every -D of "
                 "one pre-dump chain the same one (e.g. --capture /srv/job/1=job --capture "
                 "/srv/job/2=job)."},
        .role = link::TlsRole::client,
        .check_required =
            [](const O& o, const std::string& main_file) {
                if (o.cache.host.empty())
                    throw UsageError(
                        "no img-cached address: give --cache HOST:PORT or set cache = "
                        "\"HOST:PORT\" in " +
                        main_file);
            },
        .check = {}};
    return spec;
}

void apply_proxy_config(const config::Section& document, ProxyOptions& out) {
    config::read_settings(proxy_table(), document, out);
}

std::string format_proxy_config(const ProxyOptions& options) {
    return format_daemon_config(proxy_command_spec(), options);
}

}  // namespace imgx::proxyd
