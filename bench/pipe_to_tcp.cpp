// img-bench-pipe-to-tcp: measures img-proxyd's two possible ways of moving a CRIU pipe's bytes
// into the link's TCP socket, on loopback, in one run:
//   read:        read() up to 1 MiB into a reused buffer, then one writev() of header + chunk;
//   read+xxh3:   the same, hashing each chunk on the way (what img-proxyd does: the cache verifies
//                every file's XXH3-64);
//   splice:      learn how much the pipe holds (FIONREAD), write the 16-byte chunk header, then
//                splice() that many bytes from the pipe into the socket (no copy to user space,
//                so no hash and nothing kept for a resend after a link cut).
// A writer thread plays CRIU (writes 1 MiB at a time into a 1 MiB pipe); a reader thread plays
// img-cached (reads the socket into a reused buffer). Reports, per method, the median throughput
// and the moving thread's CPU seconds per GB (RUSAGE_THREAD) over interleaved runs.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "measure.hpp"
#include "util/unique_fd.hpp"

using namespace imgx;
using namespace imgx::bench;

namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr std::size_t kHeader = 16;

enum class Method { read, read_hash, splice };
const char* name_of(Method m) {
    switch (m) {
        case Method::read:
            return "read";
        case Method::read_hash:
            return "read+xxh3";
        case Method::splice:
            return "splice";
    }
    return "?";
}

[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

double thread_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_THREAD, &usage);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A connected loopback TCP pair: {sending end, receiving end}.
std::pair<UniqueFd, UniqueFd> tcp_pair() {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) fail("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener.get(), 1) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
        fail("listen on 127.0.0.1");
    UniqueFd sender(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sender || ::connect(sender.get(), reinterpret_cast<sockaddr*>(&address), length) != 0)
        fail("connect");
    UniqueFd receiver(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!receiver) fail("accept");
    return {std::move(sender), std::move(receiver)};
}

void write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write");
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Moves `total` bytes from `pipe` to `socket` by `method`; returns the bytes moved.
std::uint64_t move_bytes(Method method, int pipe, int socket, std::uint64_t total) {
    std::vector<char> buffer(kChunk);
    char header[kHeader] = {};
    XXH3_state_t* hash = XXH3_createState();
    XXH3_64bits_reset(hash);
    std::uint64_t moved = 0;
    while (moved < total) {
        if (method == Method::splice) {
            int available = 0;
            // Blocks in splice() for the first byte when the pipe is empty.
            if (::ioctl(pipe, FIONREAD, &available) != 0) fail("FIONREAD");
            std::size_t want = available > 0 ? static_cast<std::size_t>(available) : 1;
            want = std::min<std::size_t>({want, kChunk, total - moved});
            if (::send(socket, header, kHeader, MSG_MORE) != static_cast<ssize_t>(kHeader))
                fail("send header");
            std::size_t left = want;
            while (left > 0) {
                const ssize_t n =
                    ::splice(pipe, nullptr, socket, nullptr, left, SPLICE_F_MOVE | SPLICE_F_MORE);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) fail("splice");
                left -= static_cast<std::size_t>(n);
            }
            moved += want;
            continue;
        }
        std::size_t got = 0;
        const std::size_t want = std::min<std::size_t>(kChunk, total - moved);
        while (got < want) {
            const ssize_t n = ::read(pipe, buffer.data() + got, want - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("read pipe");
            got += static_cast<std::size_t>(n);
        }
        if (method == Method::read_hash) XXH3_64bits_update(hash, buffer.data(), got);
        iovec parts[2] = {{header, kHeader}, {buffer.data(), got}};
        std::size_t left = kHeader + got;
        int first = 0;
        while (left > 0) {
            const ssize_t n = ::writev(socket, parts + first, 2 - first);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail("writev");
            left -= static_cast<std::size_t>(n);
            std::size_t done = static_cast<std::size_t>(n);
            while (done > 0 && done >= parts[first].iov_len) done -= parts[first++].iov_len;
            if (first < 2) {
                parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + done;
                parts[first].iov_len -= done;
            }
        }
        moved += got;
    }
    XXH3_freeState(hash);
    return moved;
}

struct RunResult {
    double seconds = 0;
    double mover_cpu = 0;
};

RunResult run_once(Method method, std::uint64_t total) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fail("pipe2");
    UniqueFd pipe_read(ends[0]), pipe_write(ends[1]);
    // As img-proxyd does: ask for 4 MiB, settle for 1 MiB (fs.pipe-max-size here).
    if (::fcntl(pipe_write.get(), F_SETPIPE_SZ, 4 << 20) < 0)
        ::fcntl(pipe_write.get(), F_SETPIPE_SZ, 1 << 20);
    auto [sender, receiver] = tcp_pair();

    const auto started = Clock::now();
    std::thread criu([&, fd = pipe_write.get()] {
        std::vector<char> page_data(kChunk, 'x');
        for (std::uint64_t written = 0; written < total; written += kChunk)
            write_all(fd, page_data.data(), std::min<std::uint64_t>(kChunk, total - written));
    });
    std::thread cache([&, fd = receiver.get()] {
        std::vector<char> buffer(kChunk);
        for (;;) {
            const ssize_t n = ::read(fd, buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
        }
    });
    const double cpu_before = thread_cpu_seconds();
    move_bytes(method, pipe_read.get(), sender.get(), total);
    const double cpu = thread_cpu_seconds() - cpu_before;
    ::shutdown(sender.get(), SHUT_WR);
    criu.join();
    cache.join();
    return {seconds_between(started, Clock::now()), cpu};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || argc > 3)) {
        std::printf(
            "usage: img-bench-pipe-to-tcp [MIB [RUNS]]   (default 1024 MiB, 5 runs per method)\n");
        return argc > 3 ? 2 : 0;
    }
    const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
    if (mib == 0 || runs <= 0) {
        std::fprintf(stderr, "img-bench-pipe-to-tcp: MIB and RUNS must be positive\n");
        return 2;
    }
    const std::uint64_t total = mib << 20;
    const std::vector<Method> methods = {Method::read, Method::read_hash, Method::splice};
    std::vector<std::vector<double>> rates(methods.size()), cpu(methods.size());
    try {
        for (int run = 0; run < runs; ++run) {
            for (std::size_t m = 0; m < methods.size();
                 ++m) {  // interleaved: load drifts hit all alike
                const RunResult r = run_once(methods[m], total);
                rates[m].push_back(static_cast<double>(total) / 1e9 / r.seconds);
                cpu[m].push_back(r.mover_cpu / (static_cast<double>(total) / 1e9));
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "img-bench-pipe-to-tcp: %s\n", e.what());
        return 1;
    }
    std::printf("pipe -> loopback TCP, %llu MiB per run, %d runs per method (medians)\n",
                static_cast<unsigned long long>(mib), runs);
    std::printf("| method | GB/s | mover CPU s/GB |\n|---|---|---|\n");
    for (std::size_t m = 0; m < methods.size(); ++m)
        std::printf("| %s | %.2f | %.3f |\n", name_of(methods[m]), median(rates[m]),
                    median(cpu[m]));
    return 0;
}
