// The manifest of a snapshot kept on disk: which files it has, their sizes and checksums.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imgx::store {

struct ManifestFile {
    std::string name;
    std::uint64_t size = 0;
    std::uint64_t xxh3 = 0;
};

struct Manifest {
    std::string id;
    std::string protocol;  // "stream" or "remote"
    // img-remote: the chain this snapshot was pushed on and the chain's ids at that moment.
    std::string chain;
    std::vector<std::string> chain_ids;
    std::vector<ManifestFile> files;
};

class ManifestError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A line-based text (ids and names cannot hold control characters, so each is the rest of its
// line):
//   img-cached snapshot manifest 1
//   id job1
//   protocol stream
//   chain NAME            (img-remote only; then one `chain-id ID` line per id)
//   file XXH3HEX SIZE NAME
//   end FILECOUNT
std::string format_manifest(const Manifest& manifest);

// Throws ManifestError naming the line for anything that is not a whole, valid manifest (a
// truncated one has no `end` line; ids and names are checked as the link checks them).
Manifest parse_manifest(std::string_view text);

// Reads the file open at `fd` and compares its size and XXH3-64 with `expected`. Returns why
// they differ, or nothing if they match.
std::optional<std::string> file_problem(int fd, const ManifestFile& expected);

}  // namespace imgx::store
