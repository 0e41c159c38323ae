// img-ctl: open endpoints on, query, wait for and drop snapshots of img-proxyd and img-cached.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "control/control_client.hpp"
#include "ctl_output.hpp"
#include "util/cli.hpp"
#include "wait_request.hpp"

using namespace imgx;

namespace {

constexpr const char* kProxySocket = "/run/img-proxyd/control.sock";
constexpr const char* kCacheSocket = "/run/img-cached/control.sock";
constexpr int kExitFailure = 1;
// How long a daemon may take to answer a request other than wait (--timeout overrides), and to
// answer the status request that precedes a wait: a daemon that cannot start (socket
// activation) or is stuck must not hang img-ctl.
constexpr unsigned kDefaultAnswerSeconds = 5;

constexpr const char* kUsage =
    "usage: img-ctl [--control PATH] COMMAND | --help | --version\n"
    "\n"
    "  capture DIR [--snapshot ID]  img-proxyd: listen for `criu dump --stream -D DIR`\n"
    "  serve DIR [--snapshot ID]    img-cached: listen for `criu restore --stream -D DIR`\n"
    "  close DIR                    stop listening in DIR\n"
    "  status [--json]              snapshots, files, bytes, state\n"
    "  wait SNAPSHOT [--timeout S]  until the snapshot is complete (exit 0) or failed (exit 1),\n"
    "                               at most S seconds (default: no limit)\n"
    "       [--generation G]        ... a dump of SNAPSHOT of generation G or later (see status)\n"
    "       [--next]                ... the dump after the one each daemon holds now (start it\n"
    "                               before the dump begins; never the previous dump of the id)\n"
    "  drop SNAPSHOT                forget a snapshot and free its memory\n"
    "  criu-hook                    as CRIU's --action-script: on pre-stream, open the endpoint "
    "for\n"
    "                               CRIU's images directory on the daemons running here\n"
    "\n"
    "Without --control, capture talks to "
    "/run/img-proxyd/control.sock"
    ", serve to\n"
    "/run/img-cached/control.sock, and the other commands to every daemon running here.\n"
    "A daemon must answer within 5 s (--timeout S: S seconds), a wait's status check too.\n";

struct Command {
    std::string control;
    std::vector<std::string> words;
    std::string snapshot;
    bool json = false;
    unsigned timeout = 0;
    std::uint64_t generation = 0;  // wait --generation
    bool next = false;             // wait --next
    bool help = false;
    bool version = false;
};

Command parse(int argc, char** argv) {
    Command c;
    ArgReader args;
    args.value("--control", [&](std::string_view v) { c.control = std::string(v); });
    args.value("--snapshot", [&](std::string_view v) { c.snapshot = std::string(v); });
    args.value("--timeout", [&](std::string_view v) {
        char* end = nullptr;
        const std::string text(v);
        const unsigned long value = std::strtoul(text.c_str(), &end, 10);
        if (text.empty() || *end || value == 0 || value > 86400 * 7)
            throw std::invalid_argument("'" + text + "' is not a number of seconds");
        c.timeout = static_cast<unsigned>(value);
    });
    args.value("--generation", [&](std::string_view v) {
        char* end = nullptr;
        const std::string text(v);
        const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
        if (text.empty() || *end || text[0] == '-' || value == 0)
            throw std::invalid_argument("'" + text + "' is not a generation (1, 2, ...)");
        c.generation = value;
    });
    args.toggle("--next", [&] { c.next = true; });
    args.toggle("--json", [&] { c.json = true; });
    args.toggle("--help", [&] { c.help = true; });
    args.toggle("--version", [&] { c.version = true; });
    args.positional([&](std::string_view w) { c.words.emplace_back(w); });
    args.parse(argc, argv);
    if (c.help || c.version) return c;
    // CRIU runs an action script without arguments, so the hook also takes its settings from
    // the environment CRIU passes on (see img-criu-hook).
    if (c.words.size() == 1 && c.words[0] == "criu-hook") {
        if (const char* v = std::getenv("IMG_CTL_CONTROL"); v && *v && c.control.empty())
            c.control = v;
        if (const char* v = std::getenv("IMG_CTL_SNAPSHOT"); v && *v && c.snapshot.empty())
            c.snapshot = v;
    }
    if (c.words.empty()) throw UsageError("no command given (see --help)");
    const std::string& verb = c.words[0];
    const std::size_t operands = c.words.size() - 1;
    const bool needs_one =
        verb == "capture" || verb == "serve" || verb == "close" || verb == "wait" || verb == "drop";
    if (verb == "status" || verb == "criu-hook") {
        if (operands != 0) throw UsageError(verb + " takes no operand");
    } else if (!needs_one) {
        throw UsageError("unknown command '" + verb + "' (see --help)");
    } else if (operands != 1) {
        throw UsageError(verb + " needs exactly one operand");
    }
    if (!c.snapshot.empty() && verb != "capture" && verb != "serve" && verb != "criu-hook")
        throw UsageError("--snapshot applies to capture, serve and criu-hook only");
    if ((c.generation || c.next) && verb != "wait")
        throw UsageError("--generation and --next apply to wait only");
    if (c.generation && c.next) throw UsageError("give --generation or --next, not both");
    return c;
}

// The daemons a command goes to: the one named, or every local one that is running.
std::vector<std::string> targets(const Command& c) {
    if (!c.control.empty()) return {c.control};
    if (c.words[0] == "capture") return {kProxySocket};
    if (c.words[0] == "serve") return {kCacheSocket};
    std::vector<std::string> out;
    // A socket hidden by permissions is listed: connecting then says "permission denied".
    for (const char* path : {kProxySocket, kCacheSocket})
        if (::access(path, F_OK) == 0 || errno != ENOENT) out.emplace_back(path);
    if (out.empty())
        throw std::runtime_error(
            "no daemon running here (no control socket in /run); use --control PATH");
    return out;
}

control::Request build_request(const Command& c) {
    control::Request r;
    const std::string& verb = c.words[0];
    if (verb == "capture" || verb == "serve") {
        r.mutable_open()->set_dir(c.words[1]);
        r.mutable_open()->set_snapshot_id(c.snapshot);
    } else if (verb == "criu-hook") {
        // CRIU (>= 3.19) runs its action script with CRTOOLS_IMAGE_DIR=/proc/<pid>/fd/<n> before it
        // connects to the streamer socket; the link resolves to the -D directory.
        const char* image_dir = std::getenv("CRTOOLS_IMAGE_DIR");
        if (!image_dir || !*image_dir)
            throw std::runtime_error("criu-hook: CRTOOLS_IMAGE_DIR is not set");
        std::error_code ec;
        auto dir = std::filesystem::canonical(image_dir, ec);
        if (ec)
            throw std::runtime_error(std::string("criu-hook: cannot resolve ") + image_dir + ": " +
                                     ec.message());
        r.mutable_open()->set_dir(dir.string());
        r.mutable_open()->set_snapshot_id(c.snapshot);
        r.mutable_open()->set_keep_existing(true);
    } else if (verb == "close") {
        r.set_close(c.words[1]);
    } else if (verb == "status") {
        r.set_status(true);
    } else if (verb == "wait") {
        r = ctl::wait_request(c.words[1], c.generation);
    } else if (verb == "drop") {
        r.set_drop(c.words[1]);
    }
    return r;
}

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

using Clock = control::ControlClient::Clock;

Clock::time_point seconds_from_now(unsigned seconds) {
    return Clock::now() + std::chrono::seconds(seconds);
}

// The deadline of a request that is not wait: --timeout, or kDefaultAnswerSeconds.
Clock::time_point answer_deadline(const Command& c) {
    return seconds_from_now(c.timeout ? c.timeout : kDefaultAnswerSeconds);
}

// One request per daemon in `paths`. For wait --next, every daemon's current generation is read
// before the first wait, which lasts until its dump settles: by then the next daemon would hold
// the new dump already, and "the one after it" would never come.
// A wait's progress as it comes: a terminal gets one line redrawn in place; a pipe or file gets a
// line every few seconds.
struct ProgressPrinter {
    const Command& c;
    bool terminal;
    ctl::ProgressMeter& meter;
    bool drew = false;

    void show(const control::Response& r) {
        if (r.final() || c.words[0] != "wait" || c.json) return;
        const double now = seconds_now();
        meter.add(r, now);
        if (!meter.due(now, terminal)) return;
        meter.drawn(now);
        if (terminal) {
            std::printf("\r\033[K%s", meter.line(true).c_str());
            drew = true;
        } else {
            std::printf("%s\n", meter.line(false).c_str());
        }
        std::fflush(stdout);
    }
    void clear() {
        if (drew) std::printf("\r\033[K");
        drew = false;
    }
};

// Every wait starts with a status request with a short deadline: a daemon that does not answer
// it fails the command at once instead of leaving the wait hanging.
std::vector<control::Request> requests_for(const Command& c,
                                           const std::vector<std::string>& paths) {
    std::vector<control::Request> requests(paths.size(), build_request(c));
    if (c.words[0] != "wait") return requests;
    control::Request status_request;
    status_request.set_status(true);
    const unsigned probe_seconds =
        c.timeout ? std::min(c.timeout, kDefaultAnswerSeconds) : kDefaultAnswerSeconds;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        const auto status =
            control::ControlClient(paths[i], seconds_from_now(probe_seconds)).call(status_request);
        if (c.next)
            requests[i] = ctl::wait_request(c.words[1], ctl::generation_in(status, c.words[1]) + 1);
    }
    return requests;
}

int run(const Command& c) {
    // As an action script we are called for every action; only pre-stream concerns us.
    if (c.words[0] == "criu-hook") {
        const char* action = std::getenv("CRTOOLS_SCRIPT_ACTION");
        if (!action || std::string_view(action) != "pre-stream") return 0;
    }
    const bool terminal = ::isatty(STDOUT_FILENO);
    const bool wait = c.words[0] == "wait";
    // wait --timeout S bounds the whole command (every daemon); without it a wait has no limit
    // once its daemons answered the status request (requests_for).
    const auto wait_deadline =
        c.timeout ? std::optional(seconds_from_now(c.timeout)) : std::nullopt;
    const auto paths = targets(c);
    const auto requests = requests_for(c, paths);
    int status = 0;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        const auto& path = paths[i];
        const auto& request = requests[i];
        control::ControlClient client(path, wait ? wait_deadline : answer_deadline(c));
        ctl::ProgressMeter meter;
        ProgressPrinter printer{c, terminal, meter};
        control::Response response;
        try {
            response = client.call(request, [&](const control::Response& r) { printer.show(r); });
        } catch (const control::ControlTimeout&) {
            if (!wait) throw;  // other requests: the daemon did not answer (main says so)
            printer.clear();
            std::fprintf(stderr, "img-ctl: timed out after %u s (--timeout): %s on %s\n", c.timeout,
                         ("snapshot '" + c.words[1] + "' is not complete").c_str(), path.c_str());
            return kExitFailure;
        }
        printer.clear();
        if (c.json) {
            std::printf("%s\n", ctl::to_json(response).c_str());
        } else if (c.words[0] == "status") {
            std::printf("%s", ctl::status_table(response).c_str());
        } else if (c.words[0] == "wait" && response.snapshots_size() > 0) {
            meter.add(response, seconds_now());
            std::printf("%s\n", meter.summary().c_str());
        }
        if (!response.ok()) {
            // A daemon from before generations does not know the wait_for request.
            const char* hint = request.has_wait_for() && response.snapshots_size() == 0 &&
                                       response.error() == "empty or unknown request"
                                   ? " (this daemon is too old for wait --generation/--next)"
                                   : "";
            std::fprintf(stderr, "img-ctl: %s: %s%s\n", response.daemon().c_str(),
                         response.error().c_str(), hint);
            status = kExitFailure;
        }
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    Command command;
    try {
        command = parse(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "img-ctl: %s\n", e.what());
        return kExitUsage;
    }
    if (command.help) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (command.version) {
        std::printf("img-ctl %s\n", IMGX_VERSION);
        return 0;
    }
    try {
        return run(command);
    } catch (const control::ControlTimeout& e) {
        std::fprintf(stderr, "img-ctl: timed out: %s\n", e.what());
        return kExitFailure;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "img-ctl: %s\n", e.what());
        return kExitFailure;
    }
}
