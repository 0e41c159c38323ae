// Bounded waits on a DaemonPair's logs and control status.
#include "support/daemon_waits.hpp"

#include <sys/wait.h>

namespace imgtest {

std::size_t log_mark(const DaemonPair& pair, Side side) { return log_size(pair.log_path(side)); }

std::optional<std::string> wait_for_log_line(const DaemonPair& pair, Side side,
                                             const std::regex& pattern, Deadline deadline,
                                             std::size_t from, std::size_t nth) {
    return wait_for_log_line(pair.log_path(side), pattern, deadline, from, nth);
}

nlohmann::json snapshot_status(DaemonPair& pair, Side side, const std::string& id) {
    const auto status = pair.ctl(side, {"status", "--json"}, seconds(10));
    if (status.exit_status != 0) return nullptr;
    const auto parsed = nlohmann::json::parse(status.out, nullptr, false);
    if (parsed.is_discarded()) return nullptr;
    for (const auto& s : parsed.value("snapshots", nlohmann::json::array()))
        if (s.value("snapshot_id", "") == id) return s;
    return nullptr;
}

bool wait_for_status(DaemonPair& pair, Side side, const std::string& id,
                     const std::function<bool(const nlohmann::json&)>& predicate,
                     Deadline deadline) {
    return poll_until([&] { return predicate(snapshot_status(pair, side, id)); }, deadline);
}

std::string state_of(const nlohmann::json& snapshot) {
    return snapshot.is_object() ? snapshot.value("state", "") : "";
}

std::uint64_t count_of(const nlohmann::json& snapshot, const std::string& field) {
    if (!snapshot.is_object() || !snapshot.contains(field)) return 0;
    // The JSON mapping of protobuf writes a uint64 as a string.
    const auto& value = snapshot[field];
    if (value.is_string()) return std::stoull(value.get<std::string>());
    return value.is_number() ? value.get<std::uint64_t>() : 0;
}

namespace {

// bash keeps img-ctl's own exit status past the pipe to cat (PIPESTATUS).
constexpr const char* kThroughPipe = R"(err=$1; shift; "$@" 2>"$err" | cat; exit ${PIPESTATUS[0]})";

std::vector<std::string> piped_ctl_argv(DaemonPair& pair, Side side,
                                        const std::vector<std::string>& args,
                                        const std::string& err_path) {
    std::vector<std::string> argv = {"/bin/bash",  "-c",
                                     kThroughPipe, "bash",
                                     err_path,     daemon_paths_or_skip().ctl,
                                     "--control",  pair.control(side)};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

}  // namespace

BackgroundCtl::BackgroundCtl(DaemonPair& pair, Side side, const std::vector<std::string>& args,
                             const std::string& name)
    : out_path_(pair.dir().path() + "/ctl-" + name + ".out"),
      err_path_(pair.dir().path() + "/ctl-" + name + ".err"),
      child_(piped_ctl_argv(pair, side, args, err_path_), out_path_) {}

bool BackgroundCtl::wait_for_output(const std::regex& pattern, Deadline deadline) const {
    return wait_for_log_line(out_path_, pattern, deadline).has_value();
}

CommandResult BackgroundCtl::wait_exit(Deadline deadline) {
    CommandResult result;
    if (!child_.wait_exit(deadline)) {
        child_.kill_now();
        result.timed_out = true;
    } else {
        const int status = child_.wait_status().value_or(-1);
        result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    result.out = read_text_file(out_path_);
    result.err = read_text_file(err_path_);
    return result;
}

NextDump::NextDump(DaemonPair& pair, std::string id)
    : pair_(pair),
      id_(std::move(id)),
      proxy_mark_(log_mark(pair, Side::proxy)),
      cache_mark_(log_mark(pair, Side::cache)) {}

bool NextDump::wait_seen(Side side, Deadline deadline) const {
    const std::regex begins("snapshot '" + id_ + "' begins");
    const auto from = side == Side::proxy ? proxy_mark_ : cache_mark_;
    return wait_for_log_line(pair_, side, begins, deadline, from).has_value();
}

int NextDump::wait_exit(Side side, Clock::duration timeout) const {
    const auto deadline = deadline_in(timeout);
    if (!wait_seen(side, deadline)) return -1;
    const auto left = std::chrono::duration_cast<seconds>(deadline - Clock::now()).count();
    const auto waited =
        pair_.ctl(side, {"wait", id_, "--timeout", std::to_string(std::max<long>(left, 1))},
                  timeout + seconds(10));
    return waited.exit_status;
}

}  // namespace imgtest
