// The reference for migration downtime: CRIU dumping into image files on local tmpfs and a
// restore reading them back, with no daemon involved.
#pragma once

#include <vector>

#include "scenarios.hpp"

namespace imgx::bench {

// Writes every image's files into a fresh directory in /dev/shm (each file with write(), as
// CRIU writes image files), then reads them back into `copies` (as a restore reads them).
// Returns the seconds from the first write to the last read; the directory is removed after.
// One thread per image, as one CRIU per process. Throws std::runtime_error on an I/O error.
double timed_tmpfs_migration(const Scenario& scenario, const std::vector<Arena>& copies);

}  // namespace imgx::bench
