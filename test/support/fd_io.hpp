// Blocking-style reads and writes on sockets and pipes that give up at a deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace imgtest {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline Deadline deadline_in(Clock::duration d) { return Clock::now() + d; }

enum class IoStatus {
    ok,       // everything asked for was transferred
    eof,      // the peer closed (read) before everything arrived
    timeout,  // the deadline passed
    error,    // EPIPE, ECONNRESET, ...: the peer is gone (errno kept in `last_errno`)
};
std::string_view to_string(IoStatus status);

struct IoResult {
    IoStatus status = IoStatus::ok;
    std::size_t transferred = 0;
    int last_errno = 0;
};

// Reads exactly `size` bytes. Works on blocking and non-blocking descriptors.
IoResult read_exact(int fd, void* buffer, std::size_t size, Deadline deadline);

// Writes all of `data`. Works on blocking and non-blocking descriptors (a blocking pipe is
// only written when poll() says there is room, so one write never blocks long).
IoResult write_all(int fd, std::string_view data, Deadline deadline);

// Reads until EOF; `data` holds what arrived even when the deadline passed.
struct ReadAll {
    IoResult result;
    std::string data;
};
ReadAll read_to_eof(int fd, Deadline deadline);

// Waits until `fd` is readable or hung up. False on timeout.
bool wait_readable(int fd, Deadline deadline);

// True if the peer of a socket has closed: EOF or reset is pending, nothing else unread.
// Waits at most until `deadline`. Consumes nothing if data is pending (returns false).
bool wait_peer_closed(int socket_fd, Deadline deadline);

void make_nonblocking(int fd);

}  // namespace imgtest
