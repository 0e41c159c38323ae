// The metric registry and its text exposition.
#include "metrics/registry.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "metrics/exposition.hpp"

namespace imgx::metrics {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), in_bucket_(bounds_.size(), 0) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
        std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end())
        throw std::logic_error("histogram bounds must be strictly ascending");
}

void Histogram::observe(double value) noexcept {
    // Few buckets: a linear scan is as fast as a binary search and allocates nothing.
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (value <= bounds_[i]) {
            ++in_bucket_[i];
            break;
        }
    }
    ++count_;
    sum_ += value;
}

std::uint64_t Histogram::cumulative(std::size_t bucket) const noexcept {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bucket && i < in_bucket_.size(); ++i) total += in_bucket_[i];
    return total;
}

Registry::Series& Registry::add(std::string_view name, std::string_view help, Type type,
                                const Labels& labels) {
    if (!valid_name(name))
        throw std::logic_error("invalid metric name '" + std::string(name) + "'");
    auto family = std::find_if(families_.begin(), families_.end(),
                               [&](const Family& f) { return f.name == name; });
    if (family == families_.end()) {
        families_.push_back({std::string(name), std::string(help), type, {}});
        family = std::prev(families_.end());
    } else if (family->type != type || family->help != help) {
        throw std::logic_error("metric '" + std::string(name) + "' registered twice differently");
    }
    family->series.push_back({format_labels(labels)});
    return family->series.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
    Series& series = add(name, help, Type::counter, labels);
    series.counter = &counters_.emplace_back();
    return counters_.back();
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
    Series& series = add(name, help, Type::gauge, labels);
    series.gauge = &gauges_.emplace_back();
    return gauges_.back();
}

void Registry::gauge_reader(std::string_view name, std::string_view help,
                            std::function<double()> read, const Labels& labels) {
    add(name, help, Type::gauge, labels).read = std::move(read);
}

void Registry::counter_reader(std::string_view name, std::string_view help,
                              std::function<double()> read, const Labels& labels) {
    add(name, help, Type::counter, labels).read = std::move(read);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> upper_bounds, const Labels& labels) {
    Histogram& histogram = histograms_.emplace_back(std::move(upper_bounds));
    add(name, help, Type::histogram, labels).histogram = &histogram;
    return histogram;
}

namespace {

// `name{labels} value`, or `name value` without labels.
void write_sample(std::string& out, std::string_view name, std::string_view labels,
                  std::string_view value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::string with_le(const std::string& labels, double bound) {
    std::string out = labels;
    if (!out.empty()) out += ',';
    out += "le=\"" + format_value(bound) + "\"";
    return out;
}

}  // namespace

std::string Registry::expose() const {
    std::string out;
    out.reserve(256 * families_.size());
    for (const Family& family : families_) {
        out += "# HELP " + family.name + " " + escape_help(family.help) + "\n";
        const char* type = "histogram";
        if (family.type == Type::counter) type = "counter";
        if (family.type == Type::gauge) type = "gauge";
        out += "# TYPE " + family.name + " " + type + "\n";
        for (const Series& s : family.series) {
            if (s.counter)
                write_sample(out, family.name, s.labels, format_value(s.counter->value()));
            if (s.gauge) write_sample(out, family.name, s.labels, format_value(s.gauge->value()));
            if (s.read) write_sample(out, family.name, s.labels, format_value(s.read()));
            if (!s.histogram) continue;
            const Histogram& h = *s.histogram;
            const std::string bucket = family.name + "_bucket";
            for (std::size_t i = 0; i < h.upper_bounds().size(); ++i)
                write_sample(out, bucket, with_le(s.labels, h.upper_bounds()[i]),
                             format_value(h.cumulative(i)));
            write_sample(out, bucket, with_le(s.labels, std::numeric_limits<double>::infinity()),
                         format_value(h.count()));
            write_sample(out, family.name + "_sum", s.labels, format_value(h.sum()));
            write_sample(out, family.name + "_count", s.labels, format_value(h.count()));
        }
    }
    return out;
}

}  // namespace imgx::metrics
