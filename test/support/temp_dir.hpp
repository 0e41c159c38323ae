// A private directory under /tmp for one test's sockets, images directories and logs.
#pragma once

#include <string>

namespace imgtest {

class TempDir {
  public:
    TempDir();  // mkdtemp("/tmp/imgtest-XXXXXX"); throws on failure
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    // Removes the directory unless keep() was called.
    ~TempDir();

    [[nodiscard]] const std::string& path() const { return path_; }
    // Creates (with parents) and returns path()/relative.
    std::string make_dir(const std::string& relative) const;
    // Leaves the directory behind (for looking at a failed test's logs).
    void keep() { keep_ = true; }

  private:
    std::string path_;
    bool keep_ = false;
};

}  // namespace imgtest
