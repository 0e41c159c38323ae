// Builds verified image files for store tests.
#pragma once

#include <unistd.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/image_file.hpp"

namespace imgtest {

// Feeds `content` to a builder in pieces of `piece` bytes and finishes it with the true size and
// XXH3. With `pool`, large pieces go into its blocks.
inline std::shared_ptr<const imgx::store::ImageFile> make_file(
    const std::string& name, std::string_view content, std::size_t piece = 1000,
    std::shared_ptr<imgx::store::BlockPool> pool = nullptr) {
    imgx::store::FileStorage storage;
    storage.pool = std::move(pool);
    imgx::store::ImageFileBuilder builder(name, std::move(storage));
    for (std::size_t at = 0; at < content.size(); at += piece) {
        auto n = std::min(piece, content.size() - at);
        std::memcpy(builder.prepare_segment(n), content.data() + at, n);
        builder.commit_segment();
    }
    std::string problem;
    auto file =
        builder.finish(content.size(), XXH3_64bits(content.data(), content.size()), problem);
    if (!file) throw std::runtime_error("make_file: " + problem);
    return file;
}

// The bytes of a stored file, segments concatenated (pieces on disk read back).
inline std::string file_bytes(const imgx::store::ImageFile& file) {
    std::string out;
    for (const auto& s : file.segments) {
        if (s.bytes) {
            out.append(s.bytes.get(), s.size);
            continue;
        }
        std::string piece(s.size, '\0');
        if (::pread(s.backing->fd.get(), piece.data(), s.size, static_cast<off_t>(s.offset)) !=
            static_cast<ssize_t>(s.size))
            throw std::runtime_error("file_bytes: cannot read a piece from " + s.backing->path);
        out += piece;
    }
    return out;
}

}  // namespace imgtest
