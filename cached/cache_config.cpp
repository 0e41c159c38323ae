// img-cached's settings table (docs/configuration.md and img-transfer.toml(5) are generated from
// it).
#include "cache_config.hpp"

#include "config/setting_values.hpp"
#include "service/passed_sockets.hpp"

namespace imgx::cached {

namespace {

using O = CacheOptions;
using config::OnReload;

config::Setting<O> listen_row() {
    return config::address_setting<O>(
        {.key = "listen",
         .flag = "--listen",
         .flag_value = "ADDR:PORT",
         .help = "link address img-proxyd connects to, e.g. 127.0.0.1:7411, [::]:7411",
         .doc = "link address img-proxyd connects to, e.g. `\"0.0.0.0:7411\"`, `\"[::]:7411\"`; "
                "port 0 "
                "picks a free port. Anyone who can reach it can send snapshots: bind it to the "
                "network of the source hosts. With socket activation (the `link` socket) it may "
                "be left out; when set it must be the passed socket's address (port 0: any "
                "port), or img-cached refuses to start (exit 2) naming both"},
        &O::listen, /*allow_port_zero=*/true);
}

config::Setting<O> directory_row(config::SettingText text, std::string O::*field) {
    text.detail = "(path)";
    text.flag_value = "DIR";
    text.default_note = "none";
    text.reload = OnReload::restart;
    return config::text_setting<O>(std::move(text), field);
}

config::Setting<O> mib_row(config::SettingText text, std::uint64_t O::*field) {
    text.flag_value = "MIB";
    text.reload = OnReload::restart;
    return config::number_setting<O>(std::move(text), field, 0, kMaxMemoryBudgetMib);
}

// img-cached's own rows, between the shared ones (daemon_settings_table gives the order).
// Longer than 60 lines: it is data, one row per key, and reads best as one list.
config::SettingsTable<O> cache_rows() {
    config::SettingsTable<O> rows;
    rows.push_back(config::remote_data_setting<O>(
        &O::remote_reads_on_socket,
        "how --remote restores read images: pipe (2020 builds) or socket (2017-2019 builds)",
        "how `criu restore --remote` reads images: `pipe` (CRIU's 2020 builds) or `socket` "
        "(2017-2019 builds)"));
    rows.push_back(config::number_setting<O>(
        {.key = "remote_wait_seconds",
         .flag = "--remote-wait",
         .flag_value = "SECONDS",
         .help = "longest a --remote read waits for its dump to finish, then error 5",
         .doc = "longest a `--remote` read waits for its dump to finish before answering error 5"},
        &O::remote_wait_seconds, 1, kMaxRemoteWaitSeconds));
    rows.push_back(config::number_setting<O>(
        {.key = "serve_wait_seconds",
         .flag = "--serve-wait",
         .flag_value = "SECONDS",
         .help = "longest a restore waits for a dump of its snapshot id to begin (0: no limit)",
         .doc = "longest a restore (`--stream`, or a `--remote` read or chain list) waits for "
                "a dump of its snapshot id or chain to begin; then img-cached logs it and the "
                "restore fails (`--stream`: its connection is closed; `--remote`: a read gets "
                "error 5, a list is closed empty). `0`: no limit"},
        &O::serve_wait_seconds, 0, kMaxServeWaitSeconds));
    rows.push_back(directory_row(
        {.key = "state_dir",
         .flag = "--state-dir",
         .help = "keep complete snapshots in DIR and serve them again after a restart",
         .doc = "keep every complete snapshot here and serve it again after a restart or a crash; "
                "partial ones are removed at start, complete ones verified against their manifest "
                "(sizes and XXH3-64; one that does not match is moved to `DIR/bad`; "
                "docs/operations.md, \"Snapshots across restarts\"); `\"\"`: memory only"},
        &O::state_dir));
    rows.push_back(directory_row(
        {.key = "spool_dir",
         .flag = "--spool-dir",
         .help = "without --state-dir: where bytes beyond the memory budget go (none: a dump that "
                 "reaches the budget fails)",
         .doc = "without `state_dir`: where bytes beyond `memory_budget_mib` go (unnamed files, "
                "nothing left behind by a crash)"},
        &O::spool_dir));
    rows.push_back(mib_row(
        {.key = "memory_budget_mib",
         .flag = "--memory-budget",
         .default_note = "no limit",
         .help = "image bytes kept in memory, in MiB; beyond it they go to the state or spool "
                 "directory",
         .doc =
             "image bytes kept in memory (MiB); beyond it bytes are served from `state_dir` or "
             "spilled to `spool_dir`, and with neither the dump that reaches it fails while other "
             "snapshots go on (docs/operations.md, \"Memory budgets\")"},
        &O::memory_budget_mib));
    rows.push_back(mib_row(
        {.key = "prefault_mib",
         .flag = "--prefault",
         .default_note = "none",
         .help = "at start, fault in MIB of memory for received images, so the first dump does not "
                 "wait for fresh pages; at most the memory budget",
         .doc =
             "image memory (MiB) allocated and faulted in at start, before anything listens, and "
             "kept for received images, so the first dump does not wait for the kernel to back "
             "fresh pages; larger than a non-zero `memory_budget_mib` is refused at start "
             "(docs/operations.md, \"Memory budgets\")"},
        &O::prefault_mib));
    rows.push_back(config::number_setting<O>(
        {.key = "link_resume_seconds",
         .flag = "--link-resume",
         .flag_value = "SECONDS",
         .help = "how long the dumps of a lost link wait for img-proxyd to reconnect and resume "
                 "them before they fail (0: fail at once)",
         .doc =
             "after a link from img-proxyd is lost, how long its unfinished dumps wait for it to "
             "reconnect and resume them before they fail (waiting restores are closed); `0`: they "
             "fail at once"},
        &O::link_resume_seconds, 0, kMaxLinkResumeSeconds));
    return rows;
}

const config::SettingsTable<O>& cache_table() {
    static const auto table = daemon_settings_table<O>(
        listen_row(), cache_rows(), link::TlsRole::server,
        {.key = "serve",
         .flag = "--serve",
         .doc =
             "serve endpoints opened at start, one table each (`img-ctl serve` opens more at run "
             "time): `dir`, CRIU's `-D` directory (required), where img-cached listens on "
             "`streamer-serve.sock` (`--stream`) and `img-cache.sock` (`--remote`); `snapshot`, "
             "the snapshot id (for `--remote`, the pre-dump chain name), default the last "
             "component of `dir`"});
    return table;
}

// The pool never keeps more free memory than the budget, so a larger prefault could not be kept.
void check_prefault(const O& options) {
    if (options.memory_budget_mib == 0 || options.prefault_mib <= options.memory_budget_mib) return;
    throw UsageError("prefault_mib (" + std::to_string(options.prefault_mib) +
                     ") is larger than memory_budget_mib (" +
                     std::to_string(options.memory_budget_mib) +
                     "): lower the prefault or raise the budget");
}

}  // namespace

const CommandSpec<CacheOptions>& cache_command_spec() {
    static const CommandSpec<CacheOptions> spec{
        .table = &cache_table(),
        .usage =
            {.program = "img-cached",
             .default_config = kDefaultCacheConfig,
             .description =
                 "Receives snapshots from img-proxyd and serves them to `criu restore "
                 "--stream -D DIR` on DIR/streamer-serve.sock (while the dump may still be "
                 "running), and to `criu restore --remote -D DIR` on DIR/img-cache.sock "
                 "(once the dump has finished).",
             .notes =
                 "For --remote, the endpoint's SNAPSHOT part names the pre-dump chain to answer "
                 "pulls with (the same name as on img-proxyd)."},
        .role = link::TlsRole::server,
        .check_required =
            [](const O& o, const std::string& main_file) {
                // Socket activation: the link socket may come from systemd alone.
                if (o.listen.host.empty() && !socket_passed("link"))
                    throw UsageError(
                        "no link address: give --listen ADDR:PORT or set listen = \"ADDR:PORT\" "
                        "in " +
                        main_file);
            },
        .check = check_prefault};
    return spec;
}

void apply_cache_config(const config::Section& document, CacheOptions& out) {
    config::read_settings(cache_table(), document, out);
}

std::string format_cache_config(const CacheOptions& options) {
    return format_daemon_config(cache_command_spec(), options);
}

}  // namespace imgx::cached
