// Helpers of the fuzz targets: invariant checks that crash on a bug, and CRIU-style frame
// splitting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "wire/frame.hpp"

// A violated invariant is a bug in the code under test: print it and crash, so that libFuzzer
// keeps the input as a reproducer.
#define FUZZ_CHECK(condition)           \
    ((condition) ? static_cast<void>(0) \
                 : ::imgfuzz::invariant_failed(#condition, __FILE__, __LINE__))

namespace imgfuzz {

[[noreturn]] inline void invariant_failed(const char* condition, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
    std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// The length prefix of an encoded CRIU frame, read with the daemons' own decoder.
inline std::uint32_t length_prefix(std::string_view frame) {
    unsigned char bytes[imgx::wire::kLengthBytes];
    std::memcpy(bytes, frame.data(), sizeof bytes);
    return imgx::wire::decode_length(bytes);
}

// Calls `on_body` with each complete frame body of `stream`, read the way a daemon reads a CRIU
// connection (length checked against the limit before anything else). Stops at a partial frame;
// lets wire::ProtocolError of an over-long length escape, as the daemons do.
template <typename OnBody>
void for_each_frame(std::string_view stream, OnBody&& on_body) {
    while (stream.size() >= imgx::wire::kLengthBytes) {
        const std::uint32_t length = length_prefix(stream);
        imgx::wire::check_length(length);
        stream.remove_prefix(imgx::wire::kLengthBytes);
        if (stream.size() < length) return;
        on_body(stream.substr(0, length));
        stream.remove_prefix(length);
    }
}

}  // namespace imgfuzz
