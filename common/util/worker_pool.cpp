// The worker threads' size and lifetime.
#include "worker_pool.hpp"

#include <sched.h>

#include <algorithm>

namespace imgx {

namespace {

std::size_t chosen_threads(std::size_t threads) {
    return threads > 0 ? threads : WorkerPool::default_threads();
}

}  // namespace

WorkerPool::WorkerPool(std::size_t threads) : threads_(chosen_threads(threads)), pool_(threads_) {}

WorkerPool::~WorkerPool() {
    pool_.stop();
    pool_.join();
}

std::size_t WorkerPool::default_threads() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::size_t cpus = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = static_cast<std::size_t>(CPU_COUNT(&set));
    return std::clamp<std::size_t>(cpus, 1, 8);
}

}  // namespace imgx
