// mkdtemp-based temporary directories.
#include "support/temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace imgtest {

TempDir::TempDir() {
    char templ[] = "/tmp/imgtest-XXXXXX";
    if (!::mkdtemp(templ))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path_ = templ;
}

TempDir::~TempDir() {
    if (keep_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::make_dir(const std::string& relative) const {
    auto dir = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(dir);
    return dir.string();
}

}  // namespace imgtest
