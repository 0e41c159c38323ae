// Local tmpfs dump + restore: the migration downtime without daemons or network.
#include "downtime.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "for_each_image.hpp"
#include "measure.hpp"
#include "util/unique_fd.hpp"

namespace imgx::bench {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
    throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

void write_file(const std::string& path, const char* bytes, std::size_t size) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) fail("cannot create", path);
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = ::write(fd.get(), bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot write", path);
        done += static_cast<std::size_t>(n);
    }
}

void read_file(const std::string& path, char* into, std::size_t size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) fail("cannot open", path);
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = ::read(fd.get(), into + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot read", path);
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

double timed_tmpfs_migration(const Scenario& scenario, const std::vector<Arena>& copies) {
    char dir_template[] = "/dev/shm/img-bench-tmpfs.XXXXXX";
    if (!::mkdtemp(dir_template)) fail("cannot create a directory like", dir_template);
    const std::string dir = dir_template;
    const auto start = Clock::now();
    try {
        for_each_image(scenario.images.size(), [&](std::size_t i) {
            const SnapshotImage& image = scenario.images[i];
            const std::string prefix = fmt::format("{}/{}-", dir, i);
            for (const auto& f : image.files()) write_file(prefix + f.name, image.bytes(f), f.size);
            for (const auto& f : image.files())
                read_file(prefix + f.name, copies[i].data() + f.offset, f.size);
        });
    } catch (...) {
        std::filesystem::remove_all(dir);
        throw;
    }
    const double seconds = seconds_between(start, Clock::now());
    std::filesystem::remove_all(dir);
    return seconds;
}

}  // namespace imgx::bench
