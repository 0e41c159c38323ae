// Plays one CRIU per image: every image of a scenario at once, as that many CRIU processes.
#pragma once

#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace imgx::bench {

// Calls `play(i)` for every image: on this thread for one image, one thread per image otherwise
// (like as many CRIU processes). Rethrows the first failure once all have finished.
template <typename Play>
void for_each_image(std::size_t count, Play play) {
    if (count == 1) {
        play(0);
        return;
    }
    std::vector<std::exception_ptr> errors(count);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < count; ++i)
        threads.emplace_back([&, i] {
            try {
                play(i);
            } catch (...) {
                errors[i] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace imgx::bench
