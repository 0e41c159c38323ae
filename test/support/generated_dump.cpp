// Generated dumps and their verification.
#include "support/generated_dump.hpp"

#include <exception>

#include "support/content.hpp"
#include "support/criu_client.hpp"
#include "support/pipe_writer.hpp"

namespace imgtest {

namespace {

bool names_inventory(const std::vector<GeneratedFile>& files) {
    for (const auto& f : files)
        if (f.name == kFinishingImage) return true;
    return false;
}

}  // namespace

std::vector<GeneratedFile> generate_files(const std::string& prefix, std::uint64_t seed,
                                          int count) {
    constexpr std::size_t kStep = 23 * 1024;  // past 64 KiB from the fourth size on
    std::vector<GeneratedFile> files;
    for (int i = 0; i < count; ++i) {
        std::size_t size = static_cast<std::size_t>(i % 8) * kStep + (i % 8 ? seed % 997 + i : 0);
        files.push_back(
            {prefix + "-" + std::to_string(i) + ".img", make_content(seed * 1000 + i, size)});
    }
    return files;
}

std::string dump_files(const std::string& capture_dir, const std::vector<GeneratedFile>& files,
                       Deadline deadline) {
    try {
        StreamDumpSession dump(capture_dir);
        std::vector<PendingWrite> writes;
        for (const auto& f : files) writes.push_back({f.name, dump.announce(f.name), f.content});
        auto problem = write_interleaved(std::move(writes), deadline);
        // CRIU writes inventory.img last, once every other image is written (a dump without it
        // failed), unless the files name it themselves.
        if (!problem.empty() || names_inventory(files))
            dump.close();
        else if (!dump.finish(deadline))
            problem = "writing inventory.img failed";
        return problem.empty() ? "" : "dump of " + capture_dir + ": " + problem;
    } catch (const std::exception& e) {
        return "dump of " + capture_dir + ": " + e.what();
    }
}

std::string restore_and_compare(const std::string& serve_dir,
                                const std::vector<GeneratedFile>& files,
                                const std::vector<std::string>& missing, Deadline deadline) {
    try {
        StreamRestoreSession restore(serve_dir);
        for (const auto& f : files) {
            std::string content;
            auto answer = restore.fetch(f.name, content, deadline);
            if (answer != Answer::exists)
                return "restore from " + serve_dir + ": " + f.name + " got " +
                       std::string(to_string(answer));
            if (content != f.content)
                return "restore from " + serve_dir + ": " + f.name +
                       " differs: " + describe_difference(f.content, content);
        }
        for (const auto& name : missing) {
            auto reply = restore.request(name, deadline);
            if (reply.answer != Answer::missing)
                return "restore from " + serve_dir + ": missing " + name + " got " +
                       std::string(to_string(reply.answer));
        }
        return "";
    } catch (const std::exception& e) {
        return "restore from " + serve_dir + ": " + e.what();
    }
}

std::string dump_pages_and_inventory(const std::string& capture_dir, const std::string& pages,
                                     Deadline deadline) {
    try {
        StreamDumpSession dump(capture_dir);
        if (write_and_close(dump.announce("pages-1.img"), pages, deadline).status != IoStatus::ok)
            return "writing pages-1.img failed";
        if (write_and_close(dump.announce("inventory.img"), "inv", deadline).status != IoStatus::ok)
            return "writing inventory.img failed";
        dump.close();
    } catch (const std::exception& e) {
        return e.what();  // img-proxyd closed CRIU's socket: the dump failed
    }
    return "";
}

}  // namespace imgtest
