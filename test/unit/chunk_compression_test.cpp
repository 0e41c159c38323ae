// Link compression without sockets: the DATA_ZSTD frame and Hello.codecs, zstd round trips and
// refused chunks, and img-proxyd's `auto` choice as a pure function.
#include "link/chunk_compression.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "link.pb.h"
#include "link/link_codec.hpp"

using namespace imgx;
using namespace imgx::link;

namespace {

// Text-like bytes that compress well (records of words and numbers, not one repeated byte).
std::vector<char> compressible(std::size_t size) {
    static const char* words[] = {"alpha", "beta", "gamma", "delta", "user_id", "name", "value"};
    std::vector<char> out;
    std::mt19937 rng(7);
    while (out.size() < size) {
        const std::string record = std::string("{'") + words[rng() % 7] +
                                   "': " + std::to_string(rng() % 100000) +
                                   ", 'id': " + std::to_string(rng() % 1000) + "}, ";
        out.insert(out.end(), record.begin(), record.end());
    }
    out.resize(size);
    return out;
}

std::vector<char> random_bytes(std::size_t size) {
    std::vector<char> out(size);
    std::mt19937_64 rng(11);
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

std::vector<char> compress(const std::vector<char>& in) {
    std::vector<char> out(in.size());
    const auto n = compress_chunk(in.data(), in.size(), out.data(), shrunk_capacity(in.size()), 1);
    out.resize(n);
    return out;
}

CompressInputs link_bound_auto() {
    return {.mode = CompressMode::automatic,
            .peer_accepts = true,
            .link = {.backlog_bytes = 8 << 20, .delivery_rate = 125e6},
            .workers_pending = 0,
            .workers = 2};
}

}  // namespace

TEST_CASE("a DATA_ZSTD header round-trips tag, offset and both sizes") {
    const auto bytes = encode_data_zstd_header(7, 3 << 20, 1 << 20, 4000);
    HeaderBytes header{};
    std::memcpy(header.data(), bytes.data(), kHeaderBytes);
    const auto decoded = decode_header(header);
    CHECK(decoded.type == FrameType::data_zstd);
    CHECK(decoded.body_length == 4000 + kDataZstdPrefixBytes);
    CHECK(frame_type_name(FrameType::data_zstd) == "DATA_ZSTD");
    std::array<unsigned char, kDataZstdPrefixBytes> prefix{};
    std::memcpy(prefix.data(), bytes.data() + kHeaderBytes, prefix.size());
    const auto at = decode_data_zstd_prefix(prefix);
    CHECK(at.file_tag == 7);
    CHECK(at.offset == 3u << 20);
    CHECK(at.original_length == 1u << 20);
}

TEST_CASE("a DATA_ZSTD frame naming no or too many original bytes is refused") {
    std::array<unsigned char, kDataZstdPrefixBytes> prefix{};
    std::memcpy(prefix.data(), encode_data_zstd_header(7, 0, 0, 10).data() + kHeaderBytes,
                prefix.size());
    CHECK_THROWS_AS(decode_data_zstd_prefix(prefix), wire::ProtocolError);
    std::memcpy(prefix.data(),
                encode_data_zstd_header(7, 0, kMaxDataPayload + 1, 10).data() + kHeaderBytes,
                prefix.size());
    CHECK_THROWS_AS(decode_data_zstd_prefix(prefix), wire::ProtocolError);
    HeaderBytes short_frame = encode_header(FrameType::data_zstd, kDataZstdPrefixBytes - 1);
    CHECK_THROWS_AS(decode_header(short_frame), wire::ProtocolError);
}

TEST_CASE("Hello.codecs: a peer that leaves it unset gets no compression") {
    Hello old_style;  // as an img-proxyd or img-cached from before compression sends it
    old_style.set_version(kVersion);
    Hello parsed;
    REQUIRE(parsed.ParseFromString(old_style.SerializeAsString()));
    CHECK(parsed.codecs() == 0);
    CHECK(negotiate_codecs(parsed.codecs(), kCodecZstd) == 0);
    CHECK(negotiate_codecs(kCodecZstd, parsed.codecs()) == 0);
    CHECK(negotiate_codecs(kCodecZstd, kCodecZstd) == kCodecZstd);
    Hello offered;
    offered.set_codecs(kCodecZstd);
    REQUIRE(parsed.ParseFromString(offered.SerializeAsString()));
    CHECK(parsed.codecs() == kCodecZstd);
}

TEST_CASE("a compressible chunk shrinks and decompresses to its original bytes") {
    const auto original = compressible(1 << 20);
    const auto packed = compress(original);
    REQUIRE(!packed.empty());
    CHECK(packed.size() < original.size() / 2);
    std::vector<char> back(original.size());
    CHECK(decompress_chunk(packed.data(), packed.size(), back.data(), back.size()).empty());
    CHECK(back == original);
}

TEST_CASE("a random chunk does not count as shrunk") {
    CHECK(compress(random_bytes(1 << 20)).empty());
}

TEST_CASE("a chunk that does not decompress, or to another size, is refused") {
    const auto original = compressible(64 << 10);
    auto packed = compress(original);
    REQUIRE(!packed.empty());
    std::vector<char> back(original.size());
    SECTION("garbage") {
        const auto garbage = random_bytes(packed.size());
        CHECK_THAT(decompress_chunk(garbage.data(), garbage.size(), back.data(), back.size()),
                   Catch::Contains("zstd cannot decompress it"));
    }
    SECTION("cut short") {
        CHECK(
            !decompress_chunk(packed.data(), packed.size() / 2, back.data(), back.size()).empty());
    }
    SECTION("more bytes than its frame names") {
        CHECK(
            !decompress_chunk(packed.data(), packed.size(), back.data(), back.size() - 1).empty());
    }
    SECTION("fewer bytes than its frame names") {
        back.resize(original.size() + 1);
        CHECK_THAT(decompress_chunk(packed.data(), packed.size(), back.data(), back.size()),
                   Catch::Contains("decompresses to"));
    }
}

TEST_CASE("auto compresses when the link is the limit and a worker is free") {
    CHECK(choose_compression(link_bound_auto(), {}) == CompressChoice::compress);
}

TEST_CASE("auto sends plain when CRIU or the CPU, not the link, is the limit") {
    auto in = link_bound_auto();
    SECTION("nothing waits before the link") {
        in.link = {.backlog_bytes = 0, .delivery_rate = 125e6};
        CHECK(choose_compression(in, {}) == CompressChoice::plain_not_link_bound);
    }
    SECTION("what waits drains within the wait bound on a fast link") {
        in.link = {.backlog_bytes = 3 << 20, .delivery_rate = 10e9};
        CHECK(choose_compression(in, {}) == CompressChoice::plain_not_link_bound);
    }
    SECTION("every worker is busy") {
        in.workers_pending = 2;
        CHECK(choose_compression(in, {}) == CompressChoice::plain_workers_busy);
    }
}

TEST_CASE("a link of unknown rate counts as the limit once enough waits before it") {
    CHECK(link_bound({.backlog_bytes = kLinkBoundBytes, .delivery_rate = 0}));
    CHECK(!link_bound({.backlog_bytes = kLinkBoundBytes - 1, .delivery_rate = 0}));
}

TEST_CASE("auto stops trying a file whose chunks do not shrink, and retries now and then") {
    const auto in = link_bound_auto();
    FileCompressHistory history;
    for (unsigned i = 0; i < kMissesToStop; ++i) {
        REQUIRE(choose_compression(in, history) == CompressChoice::compress);
        note_compressed(history, false);
    }
    unsigned skipped = 0;
    while (choose_compression(in, history) == CompressChoice::plain_incompressible) {
        note_skipped(history);
        ++skipped;
        REQUIRE(skipped < 10 * kRetryEvery);
    }
    CHECK(skipped == kRetryEvery - 1);
    note_compressed(history, true);  // the retry shrank: the file is tried again
    CHECK(choose_compression(in, history) == CompressChoice::compress);
}

TEST_CASE("zstd always compresses; off and an old peer never do") {
    auto in = link_bound_auto();
    FileCompressHistory hopeless{.misses = 100, .skipped = 0};
    in.mode = CompressMode::zstd;
    in.link = {};
    in.workers_pending = 100;
    CHECK(choose_compression(in, hopeless) == CompressChoice::compress);
    in.peer_accepts = false;
    CHECK(choose_compression(in, {}) == CompressChoice::plain_off);
    in = link_bound_auto();
    in.mode = CompressMode::off;
    CHECK(choose_compression(in, {}) == CompressChoice::plain_off);
}

TEST_CASE("the compress setting's words") {
    CHECK(parse_compress_mode("off") == CompressMode::off);
    CHECK(parse_compress_mode("zstd") == CompressMode::zstd);
    CHECK(parse_compress_mode("auto") == CompressMode::automatic);
    CHECK(compress_mode_name(CompressMode::automatic) == "auto");
    CHECK_THROWS_AS(parse_compress_mode("lz4"), std::invalid_argument);
}
