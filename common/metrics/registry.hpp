// Counters, gauges and histograms of one daemon, and their Prometheus text exposition.
//
// Everything here runs on the daemon's one io_context thread: no locks, no atomics. Updating a
// metric is a plain addition on an object registered once at start-up (no allocation), so the
// data path takes a reference once and then does `counter += n`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imgx::metrics {

// Label names and values of one time series, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up (bytes, files, events).
class Counter {
  public:
    Counter& operator+=(std::uint64_t n) noexcept {
        value_ += n;
        return *this;
    }
    Counter& operator++() noexcept {
        ++value_;
        return *this;
    }
    [[nodiscard]] std::uint64_t value() const noexcept { return value_; }

  private:
    std::uint64_t value_ = 0;
};

// A value that goes up and down (connections open, bytes held).
class Gauge {
  public:
    void set(std::int64_t v) noexcept { value_ = v; }
    Gauge& operator+=(std::int64_t n) noexcept {
        value_ += n;
        return *this;
    }
    Gauge& operator-=(std::int64_t n) noexcept {
        value_ -= n;
        return *this;
    }
    Gauge& operator++() noexcept { return *this += 1; }
    Gauge& operator--() noexcept { return *this -= 1; }
    [[nodiscard]] std::int64_t value() const noexcept { return value_; }

  private:
    std::int64_t value_ = 0;
};

// Adds one to a gauge for as long as it lives (a connection or a transfer in progress).
class GaugeGuard {
  public:
    explicit GaugeGuard(Gauge& gauge) noexcept : gauge_(gauge) { ++gauge_; }
    GaugeGuard(const GaugeGuard&) = delete;
    GaugeGuard& operator=(const GaugeGuard&) = delete;
    ~GaugeGuard() { --gauge_; }

  private:
    Gauge& gauge_;
};

// Observations counted into fixed buckets (upper bounds, ascending), with their sum.
class Histogram {
  public:
    explicit Histogram(std::vector<double> upper_bounds);

    void observe(double value) noexcept;

    [[nodiscard]] const std::vector<double>& upper_bounds() const noexcept { return bounds_; }
    // Observations at or below each bound, cumulative as exposed; the +Inf bucket is count().
    [[nodiscard]] std::uint64_t cumulative(std::size_t bucket) const noexcept;
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    [[nodiscard]] double sum() const noexcept { return sum_; }

  private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> in_bucket_;  // per bucket, not cumulative
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

// Buckets (seconds) for the duration of one snapshot's transfer: from small test dumps to large
// processes over slow links.
inline const std::vector<double> kTransferSecondsBuckets = {0.1, 0.25, 0.5, 1,   2.5, 5,   10,
                                                            30,  60,   120, 300, 600, 1800};

// The metrics of one daemon, in registration order. References returned stay valid for the
// registry's lifetime. Series of one name (different labels) form one family with one HELP
// and TYPE; registering a name again with another type or help is a programming error
// (std::logic_error).
class Registry {
  public:
    Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
    Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
    // A gauge read when scraped (e.g. memory held, taken from the object that holds it).
    void gauge_reader(std::string_view name, std::string_view help, std::function<double()> read,
                      const Labels& labels = {});
    // A counter read when scraped (a total kept elsewhere that only grows); name ends in _total.
    void counter_reader(std::string_view name, std::string_view help, std::function<double()> read,
                        const Labels& labels = {});
    Histogram& histogram(std::string_view name, std::string_view help,
                         std::vector<double> upper_bounds, const Labels& labels = {});

    // The text exposition format 0.0.4 of every series.
    [[nodiscard]] std::string expose() const;

  private:
    enum class Type { counter, gauge, histogram };
    struct Series {
        std::string labels;  // `a="x",b="y"`, escaped, without braces
        const Counter* counter = nullptr;
        const Gauge* gauge = nullptr;
        const Histogram* histogram = nullptr;
        std::function<double()> read;
    };
    struct Family {
        std::string name;
        std::string help;
        Type type;
        std::vector<Series> series;
    };

    Series& add(std::string_view name, std::string_view help, Type type, const Labels& labels);

    std::vector<Family> families_;
    std::deque<Counter> counters_;
    std::deque<Gauge> gauges_;
    std::deque<Histogram> histograms_;
};

}  // namespace imgx::metrics
