// Values both daemons accept the same way from a flag and from a configuration key.
#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/config_file.hpp"
#include "util/names.hpp"

namespace imgx::config {

// The longest drain a daemon allows (--shutdown-grace / shutdown_grace_seconds), both daemons.
inline constexpr unsigned kMaxShutdownGraceSeconds = 3600;
inline constexpr unsigned kDefaultShutdownGraceSeconds = 30;

// A decimal number from `min` to `max`; throws std::invalid_argument with a one-line message.
unsigned parse_number(std::string_view text, unsigned min, unsigned max);
// The same range check for a number that is already an integer (a TOML value).
unsigned checked_number(long long value, unsigned min, unsigned max);

// --remote-data / remote_data: "pipe" (false) or "socket" (true); throws std::invalid_argument.
bool parse_remote_data_socket(std::string_view text);
std::string_view remote_data_name(bool socket);

// The name parse_log_level() reads back ("warning", not "warn").
std::string_view log_level_name(spdlog::level::level_enum level);

// Local access (--allow-uid/--allow-gid, allow_uids/allow_gids): user or group ids besides root
// and the daemon's own user that may connect to its UNIX sockets.
inline constexpr unsigned kMaxId = 4294967294u;  // (uid_t)-1 means "no id"
unsigned parse_id(std::string_view text);
void read_ids(const Section& section, std::string_view key, std::vector<unsigned>& out);
// The ids as a TOML array: "[1000, 1001]".
std::string id_list(const std::vector<unsigned>& ids);

// Endpoint lists: `[[KEY]]` tables with `dir` (required) and `snapshot` (default: the last
// component of dir), the same as --capture/--serve DIR[=SNAPSHOT]. Appends to `out`.
void read_endpoints(const Section& section, std::string_view key, std::vector<EndpointSpec>& out);
// The same list written back as `[[KEY]]` tables.
std::string format_endpoints(std::string_view key, const std::vector<EndpointSpec>& specs);
// Adds `spec` unless the same directory with the same snapshot id is already listed (a file
// and a flag naming the same endpoint open it once).
void add_endpoint(std::vector<EndpointSpec>& list, EndpointSpec spec);

}  // namespace imgx::config
