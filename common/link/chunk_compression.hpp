// Compression of file chunks on the link (docs/link-protocol.md, "Compression"): the zstd calls,
// and img-proxyd's per-chunk choice in `auto` as a pure function of what the link and the
// workers report and how the file's recent chunks fared.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace imgx::link {

// img-proxyd's `compress` setting.
enum class CompressMode { off, zstd, automatic };
// "off", "zstd", "auto"; parse_compress_mode throws std::invalid_argument for anything else.
std::string compress_mode_name(CompressMode mode);
CompressMode parse_compress_mode(const std::string& text);

// zstd levels img-proxyd accepts (negative: zstd's fast levels) and its default.
inline constexpr int kMinCompressLevel = -7;
inline constexpr int kMaxCompressLevel = 19;
inline constexpr int kDefaultCompressLevel = 1;

// A compressed chunk counts as shrunk only when it saves at least 1/kMinSavingDivisor of its
// bytes; less is not worth the cache's decompression.
inline constexpr std::size_t kMinSavingDivisor = 16;
// `auto`: a file whose last kMissesToStop chunks did not shrink is no longer tried, except one
// chunk in every kRetryEvery.
inline constexpr unsigned kMissesToStop = 4;
inline constexpr unsigned kRetryEvery = 64;
// `auto`: the link limits the transfer when at least kLinkBoundBytes wait before it (queued for
// the socket or in its send queue) and, once its delivery rate is known, they need at least
// kLinkBoundWait to drain.
inline constexpr std::uint64_t kLinkBoundBytes = 2 << 20;
inline constexpr std::chrono::milliseconds kLinkBoundWait{5};

// Compresses `in` into `out` (at most `capacity` bytes) at `level`; the compressed size, or 0
// when it does not fit (the chunk does not shrink enough). Thread-safe (a context per thread).
std::size_t compress_chunk(const char* in, std::size_t size, char* out, std::size_t capacity,
                           int level);
// The largest compressed size that counts as shrunk for a chunk of `size` bytes.
constexpr std::size_t shrunk_capacity(std::size_t size) { return size - size / kMinSavingDivisor; }

// Decompresses one zstd frame of `size` bytes into exactly `original` bytes at `out`; an empty
// string on success, else what is wrong with it.
std::string decompress_chunk(const char* in, std::size_t size, char* out, std::size_t original);

// What img-proxyd remembers of one file's compressed chunks.
struct FileCompressHistory {
    unsigned misses = 0;   // chunks in a row that did not shrink
    unsigned skipped = 0;  // chunks not tried since the file stopped being tried
};
// A tried chunk shrank (or not); a chunk was not tried because the file stopped shrinking.
void note_compressed(FileCompressHistory& history, bool shrank);

// How the path to img-cached stands: bytes waiting to be sent (queued for the sockets and in
// their send queues), and the rate the cache's kernel acknowledged bytes at (0: unknown).
struct LinkPressure {
    std::uint64_t backlog_bytes = 0;
    double delivery_rate = 0;  // bytes per second
};
[[nodiscard]] bool link_bound(const LinkPressure& link);

struct CompressInputs {
    CompressMode mode = CompressMode::off;
    bool peer_accepts = false;  // img-cached accepted zstd in the HELLO handshake
    LinkPressure link;
    std::size_t workers_pending = 0;  // compression jobs queued or running
    std::size_t workers = 1;          // threads of the worker pool
};
enum class CompressChoice {
    compress,
    plain_off,             // mode off, or the peer does not accept compression
    plain_not_link_bound,  // auto: CRIU or the CPU limits the transfer, not the link
    plain_workers_busy,    // auto: every worker is busy; the chunk would only wait
    plain_incompressible,  // auto: the file's recent chunks did not shrink
};
// Whether to compress the next chunk of a file with `history`. Pure; a chunk left plain because
// its file stopped shrinking must be counted with note_skipped().
[[nodiscard]] CompressChoice choose_compression(const CompressInputs& in,
                                                const FileCompressHistory& history);
void note_skipped(FileCompressHistory& history);

}  // namespace imgx::link
