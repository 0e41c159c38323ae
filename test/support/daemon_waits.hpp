// Bounded waits on a DaemonPair: its log lines, its `img-ctl status --json`, a new dump of an id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/daemon_pair.hpp"
#include "support/log_wait.hpp"

namespace imgtest {

// Where `side`'s log ends now (a restarted daemon appends to the same file).
std::size_t log_mark(const DaemonPair& pair, Side side);

// Waits until `nth` lines of `side`'s log written after `from` match `pattern`; the last of
// them or nullopt.
std::optional<std::string> wait_for_log_line(const DaemonPair& pair, Side side,
                                             const std::regex& pattern, Deadline deadline,
                                             std::size_t from = 0, std::size_t nth = 1);

// The id's entry of `img-ctl status --json` on `side` (null if the daemon does not list it, or
// did not answer).
nlohmann::json snapshot_status(DaemonPair& pair, Side side, const std::string& id);

// Polls snapshot_status() until `predicate` holds for it (it may be null); false at the deadline.
bool wait_for_status(DaemonPair& pair, Side side, const std::string& id,
                     const std::function<bool(const nlohmann::json&)>& predicate,
                     Deadline deadline);

// A state of a snapshot entry: "receiving", "complete", "failed", ... ("" for null).
std::string state_of(const nlohmann::json& snapshot);
// A counter of the entry, e.g. "bytes" (received or captured so far) or "files" (complete on
// img-cached); 0 for null.
std::uint64_t count_of(const nlohmann::json& snapshot, const std::string& field);
inline std::uint64_t bytes_of(const nlohmann::json& snapshot) {
    return count_of(snapshot, "bytes");
}

// `img-ctl --control SIDE ARGS...` running in the background with its stdout on a pipe (as
// run_command() gives it), copied to a file as it comes, so a test can see each progress line
// (img-ctl flushes every one) while the command still runs.
class BackgroundCtl {
  public:
    // `name` names the output files in the pair's directory.
    BackgroundCtl(DaemonPair& pair, Side side, const std::vector<std::string>& args,
                  const std::string& name);

    // Waits for a line of its stdout matching `pattern`; false at the deadline.
    bool wait_for_output(const std::regex& pattern, Deadline deadline) const;
    // Waits for img-ctl to exit (killed at the deadline: then timed_out) and gives its result.
    CommandResult wait_exit(Deadline deadline);

  private:
    std::string out_path_;
    std::string err_path_;
    ChildProcess child_;
};

// A dump of an id that was dumped before (the reused-id race): `img-ctl wait ID` right after
// the new dump began may still find the previous, settled dump and answer for it. Mark before
// the new dump starts; wait_exit() first waits until the daemon has heard of a dump begun after
// the mark ("snapshot 'ID' begins" in its log), then runs `img-ctl wait`.
// (The one place to switch to control-protocol generations once they exist.)
class NextDump {
  public:
    NextDump(DaemonPair& pair, std::string id);

    // True once `side` logged the beginning of a dump of the id after the mark.
    bool wait_seen(Side side, Deadline deadline) const;
    // wait_seen(), then `img-ctl wait ID` on `side`: 0 complete, 1 failed; -1 if never seen.
    int wait_exit(Side side, Clock::duration timeout = seconds(20)) const;

  private:
    DaemonPair& pair_;
    std::string id_;
    std::size_t proxy_mark_;
    std::size_t cache_mark_;
};

}  // namespace imgtest
