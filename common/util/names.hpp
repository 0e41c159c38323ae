// Which snapshot ids and image file names are acceptable, and how an id follows from a directory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace imgx {

// CRIU image names are short (the longest templates stay under 64 bytes); plugins add a few more.
inline constexpr std::size_t kMaxImageNameBytes = 255;
// A snapshot id is CRIU's -D string for img-remote; PATH_MAX bounds it.
inline constexpr std::size_t kMaxSnapshotIdBytes = 4096;

// Returns why `name` cannot be an image file name, or nothing if it can:
// non-empty, no '/', not "." or "..", no NUL or control characters, bounded length.
std::optional<std::string> image_name_problem(std::string_view name);

// Returns why `id` cannot be a snapshot id, or nothing if it can:
// non-empty, no NUL or control characters, bounded length.
std::optional<std::string> snapshot_id_problem(std::string_view id);

// The default snapshot id of an images directory: its last path component ("/a/b/" -> "b").
// Empty if the directory has no usable component (e.g. "/").
std::string snapshot_id_from_dir(std::string_view dir);

// `text` with control characters written as \xNN, for one-line error messages.
std::string printable(std::string_view text);

// Splits "DIR=SNAPSHOT" (or plain "DIR") as given to --capture / --serve.
struct EndpointSpec {
    std::string dir;
    std::string snapshot_id;
};
// Throws std::invalid_argument with a one-line message when the spec is unusable.
EndpointSpec parse_endpoint_spec(std::string_view spec);

}  // namespace imgx
