// The system calls that keep image bytes on disk, replaceable by tests to inject faults.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace imgx::store {

// Each is the system call of its name (same arguments, result and errno). A test may point one
// at a function that fails with ENOSPC or EIO; the normal path costs one indirect call.
struct FileOps {
    ssize_t (*pwrite)(int fd, const void* data, std::size_t size, off_t offset) = ::pwrite;
    int (*fdatasync)(int fd) = ::fdatasync;
    int (*rename)(const char* from, const char* to) = ::rename;
};

// The operations in use (the real system calls unless a test replaced them). Single-threaded
// use, as the store: one daemon's io_context.
inline FileOps file_ops;

// Puts the real system calls back when it goes away (tests).
struct FileOpsRestore {
    FileOpsRestore() = default;
    FileOpsRestore(const FileOpsRestore&) = delete;
    FileOpsRestore& operator=(const FileOpsRestore&) = delete;
    ~FileOpsRestore() { file_ops = FileOps{}; }
};

}  // namespace imgx::store
