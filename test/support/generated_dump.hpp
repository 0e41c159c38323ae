// Dumps and restores of generated files, safe to run from worker threads (no Catch2 inside).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/fd_io.hpp"

namespace imgtest {

struct GeneratedFile {
    std::string name;
    std::string content;
};

// `count` files named "<prefix>-<i>.img" with distinct contents; sizes cycle from 0 bytes to
// several pipe capacities so that some files need the daemon to drain concurrently.
std::vector<GeneratedFile> generate_files(const std::string& prefix, std::uint64_t seed, int count);

// One CRIU dump: announces every file (all pipes open at once), writes them interleaved,
// closes each pipe at its end, then closes the socket. Returns "" or what went wrong.
std::string dump_files(const std::string& capture_dir, const std::vector<GeneratedFile>& files,
                       Deadline deadline);

// One CRIU dump of pages-1.img (`pages`), then inventory.img ("inv"), then the socket's end.
// Returns "" or what went wrong (img-proxyd closing CRIU's socket: the dump failed).
std::string dump_pages_and_inventory(const std::string& capture_dir, const std::string& pages,
                                     Deadline deadline);

// One CRIU restore: requests every file in order and compares the bytes, then requests each of
// `missing` and expects exists=false. Returns "" or what went wrong.
std::string restore_and_compare(const std::string& serve_dir,
                                const std::vector<GeneratedFile>& files,
                                const std::vector<std::string>& missing, Deadline deadline);

}  // namespace imgtest
