// zstd chunk compression and the `auto` choice of img-proxyd.
#include "link/chunk_compression.hpp"

#include <zstd.h>

#include <memory>
#include <stdexcept>

namespace imgx::link {

namespace {

struct CctxFree {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxFree {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

std::string compress_mode_name(CompressMode mode) {
    switch (mode) {
        case CompressMode::off:
            return "off";
        case CompressMode::zstd:
            return "zstd";
        case CompressMode::automatic:
            return "auto";
    }
    return "off";
}

CompressMode parse_compress_mode(const std::string& text) {
    if (text == "off") return CompressMode::off;
    if (text == "zstd") return CompressMode::zstd;
    if (text == "auto") return CompressMode::automatic;
    throw std::invalid_argument("compress must be off, zstd or auto, not '" + text + "'");
}

std::size_t compress_chunk(const char* in, std::size_t size, char* out, std::size_t capacity,
                           int level) {
    thread_local std::unique_ptr<ZSTD_CCtx, CctxFree> context(ZSTD_createCCtx());
    if (!context) return 0;
    const std::size_t written = ZSTD_compressCCtx(context.get(), out, capacity, in, size, level);
    if (ZSTD_isError(written)) return 0;  // dstSize_tooSmall: it did not shrink enough
    return written;
}

std::string decompress_chunk(const char* in, std::size_t size, char* out, std::size_t original) {
    thread_local std::unique_ptr<ZSTD_DCtx, DctxFree> context(ZSTD_createDCtx());
    if (!context) return "no memory for a zstd decompression context";
    const std::size_t written = ZSTD_decompressDCtx(context.get(), out, original, in, size);
    if (ZSTD_isError(written))
        return std::string("zstd cannot decompress it: ") + ZSTD_getErrorName(written);
    if (written != original)
        return "it decompresses to " + std::to_string(written) + " bytes, not the " +
               std::to_string(original) + " its frame names";
    return {};
}

void note_compressed(FileCompressHistory& history, bool shrank) {
    history.misses = shrank ? 0 : history.misses + 1;
    history.skipped = 0;
}

void note_skipped(FileCompressHistory& history) { ++history.skipped; }

bool link_bound(const LinkPressure& link) {
    if (link.backlog_bytes < kLinkBoundBytes) return false;
    if (link.delivery_rate <= 0) return true;
    const double wait = static_cast<double>(link.backlog_bytes) / link.delivery_rate;
    return wait >= std::chrono::duration<double>(kLinkBoundWait).count();
}

CompressChoice choose_compression(const CompressInputs& in, const FileCompressHistory& history) {
    if (in.mode == CompressMode::off || !in.peer_accepts) return CompressChoice::plain_off;
    if (in.mode == CompressMode::zstd) return CompressChoice::compress;
    if (in.workers_pending >= in.workers) return CompressChoice::plain_workers_busy;
    if (history.misses >= kMissesToStop && history.skipped + 1 < kRetryEvery)
        return CompressChoice::plain_incompressible;
    if (!link_bound(in.link)) return CompressChoice::plain_not_link_bound;
    return CompressChoice::compress;
}

}  // namespace imgx::link
