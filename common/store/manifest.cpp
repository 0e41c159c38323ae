// Writing, reading and checking snapshot manifests.
#include "store/manifest.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "util/names.hpp"

namespace imgx::store {

namespace {

constexpr std::string_view kMagic = "img-cached snapshot manifest 1";
constexpr std::size_t kReadChunk = 1 << 20;

struct Line {
    std::size_t number;
    std::string_view keyword;
    std::string_view rest;
};

[[noreturn]] void bad(std::size_t line, std::string_view what) {
    throw ManifestError(fmt::format("manifest line {}: {}", line, what));
}

std::uint64_t number(const Line& line, std::string_view text, int base) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        bad(line.number, fmt::format("'{}' is not a number", printable(text)));
    return value;
}

// Splits "WORD REST" at the first space.
std::pair<std::string_view, std::string_view> first_word(std::string_view text) {
    auto space = text.find(' ');
    if (space == std::string_view::npos) return {text, {}};
    return {text.substr(0, space), text.substr(space + 1)};
}

std::string checked_id(const Line& line) {
    if (auto problem = snapshot_id_problem(line.rest)) bad(line.number, *problem);
    return std::string(line.rest);
}

}  // namespace

std::string format_manifest(const Manifest& manifest) {
    std::string out = std::string(kMagic) + "\n";
    out += "id " + manifest.id + "\n";
    out += "protocol " + manifest.protocol + "\n";
    if (!manifest.chain.empty()) {
        out += "chain " + manifest.chain + "\n";
        for (const auto& id : manifest.chain_ids) out += "chain-id " + id + "\n";
    }
    for (const auto& file : manifest.files)
        out += fmt::format("file {:016x} {} {}\n", file.xxh3, file.size, file.name);
    out += fmt::format("end {}\n", manifest.files.size());
    return out;
}

Manifest parse_manifest(std::string_view text) {
    Manifest out;
    std::size_t number_of_line = 0;
    bool ended = false;
    while (!text.empty()) {
        auto newline = text.find('\n');
        if (newline == std::string_view::npos)
            bad(number_of_line + 1, "no end of line (the manifest is cut short)");
        std::string_view raw = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        ++number_of_line;
        if (ended) bad(number_of_line, "text after the end line");
        if (number_of_line == 1) {
            if (raw != kMagic) bad(1, "not an img-cached snapshot manifest (version 1)");
            continue;
        }
        auto [keyword, rest] = first_word(raw);
        const Line line{number_of_line, keyword, rest};
        if (keyword == "id") {
            out.id = checked_id(line);
        } else if (keyword == "protocol") {
            if (rest != "stream" && rest != "remote") bad(line.number, "unknown protocol");
            out.protocol = std::string(rest);
        } else if (keyword == "chain") {
            out.chain = checked_id(line);
        } else if (keyword == "chain-id") {
            out.chain_ids.push_back(checked_id(line));
        } else if (keyword == "file") {
            auto [hash, after_hash] = first_word(rest);
            auto [size, name] = first_word(after_hash);
            ManifestFile file{std::string(name), number(line, size, 10), number(line, hash, 16)};
            if (auto problem = image_name_problem(name)) bad(line.number, *problem);
            out.files.push_back(std::move(file));
        } else if (keyword == "end") {
            if (number(line, rest, 10) != out.files.size())
                bad(line.number, "file count does not match");
            ended = true;
        } else {
            bad(line.number, fmt::format("unknown keyword '{}'", printable(keyword)));
        }
    }
    if (number_of_line == 0) bad(1, "empty manifest");
    if (!ended) bad(number_of_line, "no end line (the manifest is cut short)");
    if (out.id.empty() || out.protocol.empty()) bad(number_of_line, "no id or no protocol line");
    return out;
}

std::optional<std::string> file_problem(int fd, const ManifestFile& expected) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fmt::format("cannot stat it: {}", std::strerror(errno));
    if (static_cast<std::uint64_t>(st.st_size) != expected.size)
        return fmt::format("size is {} bytes, the manifest says {}", st.st_size, expected.size);
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                   &XXH3_freeState);
    XXH3_64bits_reset(state.get());
    auto buffer = std::make_unique<char[]>(kReadChunk);
    std::uint64_t at = 0;
    while (at < expected.size) {
        const ssize_t n = ::pread(fd, buffer.get(), kReadChunk, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fmt::format("cannot read it: {}", std::strerror(errno));
        if (n == 0)
            return fmt::format("ends after {} bytes, the manifest says {}", at, expected.size);
        XXH3_64bits_update(state.get(), buffer.get(), static_cast<std::size_t>(n));
        at += static_cast<std::uint64_t>(n);
    }
    const std::uint64_t digest = XXH3_64bits_digest(state.get());
    if (digest != expected.xxh3)
        return fmt::format("checksum is xxh3 {:016x}, the manifest says {:016x}", digest,
                           expected.xxh3);
    return std::nullopt;
}

}  // namespace imgx::store
