// The open-file limit a daemon needs: many concurrent migrations each hold a CRIU socket and pipes.
#pragma once

#include <cstdint>
#include <string>

namespace imgx {

struct FdLimit {
    std::uint64_t before = 0;  // soft limit found at start-up
    std::uint64_t now = 0;     // soft limit after raising it
    std::uint64_t hard = 0;
    std::string problem;  // why it could not be raised, empty if it was (or needed no raise)
};

// Raises the soft RLIMIT_NOFILE to the hard limit. Never fails: a refusal is reported in
// `problem` and the daemon runs with what it has.
FdLimit raise_fd_limit();

// Logs the outcome: debug when the limit is at least `wanted`, a warning naming the limit and
// how many concurrent migrations it allows otherwise.
void report_fd_limit(const char* daemon, const FdLimit& limit, std::uint64_t wanted);

// Descriptors a daemon wants for comfort: 64 concurrent migrations with headroom.
inline constexpr std::uint64_t kWantedFds = 4096;

}  // namespace imgx
