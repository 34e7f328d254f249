#include "bench_report.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <iostream>
#include <string>

namespace mesh::bench {
namespace {

std::string format_value(double v, const std::string& unit) {
  char buf[64];
  if (unit == "us" || unit == "ms") {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, unit.c_str());
    return buf;
  }
  if (unit == "s") {
    std::snprintf(buf, sizeof buf, "%.2f s", v);
    return buf;
  }
  if (unit == "x") {
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
  }
  return thousands(v) + (unit.empty() ? "" : " " + unit);
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

/// Whether `f` meets its target (absolute, or as a ratio to the raw figure).
bool target_met(const figure& f) {
  if (f.target) return f.higher_is_better ? f.value >= *f.target : f.value <= *f.target;
  if (!f.target_ratio || !f.raw || *f.raw <= 0) return false;
  const double ratio = f.value / *f.raw;
  return f.higher_is_better ? ratio >= *f.target_ratio : ratio <= *f.target_ratio;
}

}  // namespace

std::string thousands(double value) {
  const bool negative = value < 0;
  auto n = static_cast<uint64_t>(std::llround(std::fabs(value)));
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string bench_report::table() const {
  struct row {
    std::string cells[11];  // as many as `columns` below
  };
  std::vector<row> rows;
  rows.push_back({{"mode", "figure", "mesh", "raw zmq", "mesh/raw", "cpu us/op", "raw cpu",
                   "client cpu", "raw client", "target", "met"}});
  for (const figure& f : figures_) {
    row r;
    r.cells[0] = f.mode;
    r.cells[1] = f.label;
    r.cells[2] = format_value(f.value, f.unit);
    if (f.raw && *f.raw > 0) {
      r.cells[3] = format_value(*f.raw, f.unit);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", f.value / *f.raw);
      r.cells[4] = buf;
    }
    auto us = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", v);
      return std::string(buf);
    };
    if (f.cpu_us) r.cells[5] = us(*f.cpu_us);
    if (f.raw_cpu_us) r.cells[6] = us(*f.raw_cpu_us);
    if (f.client_cpu_us) r.cells[7] = us(*f.client_cpu_us);
    if (f.raw_client_cpu_us) r.cells[8] = us(*f.raw_client_cpu_us);
    if (f.target) {
      r.cells[9] = (f.higher_is_better ? ">= " : "<= ") + format_value(*f.target, f.unit);
      r.cells[10] = target_met(f) ? "yes" : "NO";
    } else if (f.target_ratio) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2fx raw", *f.target_ratio);
      r.cells[9] = (f.higher_is_better ? ">= " : "<= ") + std::string(buf);
      r.cells[10] = target_met(f) ? "yes" : "NO";
    }
    rows.push_back(std::move(r));
  }
  constexpr int columns = 11;
  size_t width[columns] = {};
  for (const row& r : rows)
    for (int c = 0; c < columns; ++c) width[c] = std::max(width[c], r.cells[c].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line;
    for (int c = 0; c < columns; ++c) {
      const bool right = c >= 2 && c <= 8;
      line += pad(rows[i].cells[c], width[c], right);
      if (c != columns - 1) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  for (const auto& [key, value] : notes_.items())
    out += key + ": " + (value.is_string() ? value.get<std::string>() : value.dump()) + "\n";
  return out;
}

nlohmann::ordered_json bench_report::to_json() const {
  nlohmann::ordered_json doc = notes_;
  auto& list = doc["figures"] = nlohmann::ordered_json::array();
  for (const figure& f : figures_) {
    nlohmann::ordered_json j{{"mode", f.mode},
                             {"key", f.key},
                             {"label", f.label},
                             {"value", f.value},
                             {"unit", f.unit},
                             {"samples", f.samples},
                             {"seconds", f.seconds}};
    if (f.raw) {
      j["raw"] = *f.raw;
      if (*f.raw > 0) j["ratio"] = f.value / *f.raw;
    }
    if (f.cpu_us) j["cpu_us_per_op"] = *f.cpu_us;
    if (f.raw_cpu_us) j["raw_cpu_us_per_op"] = *f.raw_cpu_us;
    if (f.client_cpu_us) j["client_cpu_us_per_op"] = *f.client_cpu_us;
    if (f.raw_client_cpu_us) j["raw_client_cpu_us_per_op"] = *f.raw_client_cpu_us;
    if (f.target) j["target"] = *f.target;
    if (f.target_ratio) j["target_ratio"] = *f.target_ratio;
    if (f.target || f.target_ratio) j["target_met"] = target_met(f);
    list.push_back(std::move(j));
  }
  return doc;
}

percentiles percentiles_of(std::vector<int64_t>& samples_ns) {
  percentiles p;
  if (samples_ns.empty()) return p;
  std::sort(samples_ns.begin(), samples_ns.end());
  auto at = [&](double q) {
    const size_t i = std::min(samples_ns.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(samples_ns.size())));
    return static_cast<double>(samples_ns[i]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.max = static_cast<double>(samples_ns.back()) / 1000.0;
  return p;
}

uint64_t resident_bytes(int pid) {
  const std::string path =
      pid == 0 ? std::string("/proc/self/statm") : "/proc/" + std::to_string(pid) + "/statm";
  std::ifstream in(path);
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

double cpu_seconds(int pid) {
  if (pid == 0) {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) start at the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

uint64_t heap_in_use_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

void progress(const std::string& mode, const std::string& text) {
  std::cerr << "[" << mode << "] " << text << std::endl;
}

}  // namespace mesh::bench
