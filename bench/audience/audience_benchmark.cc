// The audience index at the scale of the issue: N customers (default 10 M), 5,000 leaf
// categories under 10 departments and 100 aisles, a year of purchases. The index is built
// directly from synthetic features (IndexBuilder, as BuildIndex does from a store), then
// expressions are counted many times with varying categories and constants; the program
// prints build time, memory and count latency percentiles, and checks each count against a
// second evaluation so the work cannot be optimized away.
//
//   audience_benchmark [--customers N] [--categories C] [--queries Q] [--seed S]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tessera/analytics/segments.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/audience/report.h"

namespace {

using Clock = std::chrono::steady_clock;
using tessera::audience::AudienceIndex;
using tessera::audience::Expression;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Resident and peak resident memory of this process, in MB.
double MemoryMb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atof(line.c_str() + std::strlen(field)) / 1024.0;
  }
  return 0;
}

struct Latency {
  std::vector<double> ms;
  double Percentile(double p) {
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  }
};

// Aisle a (of 100) lies in department a % 10.
std::string Aisle(uint64_t a) {
  return "Dept " + std::to_string(a % 10) + " > Aisle " + std::to_string(a);
}

// A leaf among the 500 most popular.
std::string PopularLeaf(std::mt19937_64& r, const std::vector<std::string>& paths) {
  return paths[r() % std::min<size_t>(paths.size(), 500)];
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t customers = 10'000'000, queries = 300, seed = 7;
  uint32_t categories = 5000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const uint64_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--customers") customers = v;
    if (a == "--categories") categories = static_cast<uint32_t>(v);
    if (a == "--queries") queries = v;
    if (a == "--seed") seed = v;
  }
  const int64_t as_of = 20000;
  tessera::audience::IndexInfo info;
  info.as_of_day = as_of;
  info.start_day = as_of - 364;
  info.window = "12m";
  info.currency = "EUR";
  info.customers = static_cast<uint32_t>(customers);
  auto rules = tessera::analytics::SegmentRules::Default();
  std::vector<tessera::audience::SegmentInfo> segments;
  for (const auto& r : rules->rules()) segments.push_back({r.key, r.name_en, r.name_de});

  const double rss_before = MemoryMb("VmRSS:");
  const auto start = Clock::now();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  tessera::audience::IndexBuilder builder(info, segments);
  // Categories: department > aisle > leaf, popularity Zipf(1) over the leaves.
  std::vector<std::string> leaf_paths(categories);
  for (uint32_t c = 0; c < categories; ++c) {
    leaf_paths[c] = Aisle(c % 100) + " > Leaf " + std::to_string(c);
    builder.AddCategory(c + 1, leaf_paths[c]);
  }
  std::vector<double> cumulative(categories);
  double total = 0;
  for (uint32_t c = 0; c < categories; ++c) cumulative[c] = total += 1.0 / (c + 1.0);
  auto pick_category = [&] {
    const double u = unit(rng) * total;
    return static_cast<uint32_t>(std::lower_bound(cumulative.begin(), cumulative.end(), u) -
                                 cumulative.begin());
  };
  static const char* kRegions[] = {"north", "south", "east", "west", "central"};
  static const char* kChannels[] = {"store", "online", "app"};
  uint64_t purchases = 0;
  for (uint32_t c = 0; c < customers; ++c) {
    // 90% bought in the window; the rest are in the universe only.
    if (unit(rng) < 0.9) {
      tessera::store::SnapshotProfile p;
      p.customer = c;
      p.order_count = 1 + static_cast<uint32_t>(-std::log(1 - unit(rng)) * 3);
      p.revenue_minor = static_cast<int64_t>(p.order_count * 2000 * std::exp(unit(rng) * 2));
      p.recency_days = static_cast<int32_t>(unit(rng) * 365);
      p.r_score = static_cast<uint8_t>(5 - p.recency_days / 73);
      p.f_score = static_cast<uint8_t>(std::min<uint32_t>(5, p.order_count));
      p.m_score = static_cast<uint8_t>(1 + std::min<int64_t>(4, p.revenue_minor / 10000));
      p.segment = rules->Assign(p.r_score, p.f_score, p.m_score);
      builder.AddProfile(p);
      // One purchase day per order, 1-3 categories each.
      for (uint32_t o = 0; o < p.order_count; ++o) {
        const int64_t day = as_of - static_cast<int64_t>(unit(rng) * 365);
        const int lines = 1 + static_cast<int>(unit(rng) * 3);
        for (int l = 0; l < lines; ++l) {
          builder.AddPurchase(c, day, pick_category() + 1,
                              100 + static_cast<int64_t>(rng() % 5000));
          ++purchases;
        }
      }
      builder.AddAttribute("region", kRegions[rng() % 5], c);
      builder.AddAttribute("channel", kChannels[rng() % 3], c);
    }
  }
  const double generate_s = Seconds(start);
  const auto finish_start = Clock::now();
  AudienceIndex index = builder.Finish();
  const double finish_s = Seconds(finish_start);
  const double rss_after = MemoryMb("VmRSS:");
  const double peak = MemoryMb("VmHWM:");
  const double index_mb = index.SizeInBytes() / 1e6;
  std::printf(
      "customers %llu, leaf categories %u (%zu nodes), purchase lines %llu\n"
      "build: features generated and added in %.1f s, index finished in %.1f s\n"
      "index size %.0f MB (%.1f bytes per customer); RSS %.0f MB after build (%.0f before), "
      "peak %.0f MB\n",
      static_cast<unsigned long long>(customers), categories, index.categories().size(),
      static_cast<unsigned long long>(purchases), generate_s, finish_s, index_mb,
      index_mb * 1e6 / customers, rss_after, rss_before, peak);

  // Queries: five predicates each, categories and constants varying between runs.
  struct Query {
    const char* name;
    std::string (*make)(std::mt19937_64&, const std::vector<std::string>&);
  };
  const Query kQueries[] = {
      {"5 predicates, standard windows",
       [](std::mt19937_64& r, const std::vector<std::string>& p) {
         return "segment in [\"champions\", \"loyal\"] and clv > " + std::to_string(r() % 400) +
                " and bought(\"" + PopularLeaf(r, p) + "\", within=90d) and not bought(\"" +
                PopularLeaf(r, p) + "\", within=365d) and region = \"south\"";
       }},
      {"5 predicates, min_count/min_spend (postings)",
       [](std::mt19937_64& r, const std::vector<std::string>& p) {
         return "segment in [\"champions\", \"loyal\", \"potential_loyalists\"] and orders >= 2 "
                "and bought(\"" +
                PopularLeaf(r, p) + "\", within=60d, min_count=1, min_spend=20) and bought(\"" +
                Aisle(r() % 100) + "\", min_count=2) and channel in [\"online\", \"app\"]";
       }},
      {"5 predicates, an aisle (50 leaves) and a department",
       [](std::mt19937_64& r, const std::vector<std::string>& p) {
         return "recency_days <= 30 and r_score in [4, 5] and bought(\"" + Aisle(r() % 100) +
                "\", within=90d) and not bought(\"Dept " + std::to_string(r() % 10) +
                "\", within=30d) and region != \"north\"";
       }},
  };
  for (const Query& q : kQueries) {
    Latency latency;
    std::mt19937_64 qrng(seed + 1);
    uint64_t checksum = 0;
    for (uint64_t i = 0; i < queries; ++i) {
      const std::string text = q.make(qrng, leaf_paths);
      const auto t0 = Clock::now();
      auto report = tessera::audience::CountAudience(index, text, tessera::analytics::Lang::kEn);
      latency.ms.push_back(Seconds(t0) * 1000);
      if (!report.ok()) {
        std::fprintf(stderr, "%s: %s\n", text.c_str(), report.status().message().c_str());
        return 1;
      }
      checksum += report->size;
      if (i == 0) {
        auto again = Expression::Parse(text, index);
        if (!again.ok() || again->Evaluate().Cardinality() != report->size) {
          std::fprintf(stderr, "inconsistent count for %s\n", text.c_str());
          return 1;
        }
        std::printf("\n%s, e.g.\n  %s\n  -> %llu customers\n", q.name, text.c_str(),
                    static_cast<unsigned long long>(report->size));
      }
    }
    std::printf(
        "  count (parse, evaluate, segment breakdown) over %llu queries: p50 %.2f ms, "
        "p90 %.2f ms, p99 %.2f ms, max %.2f ms (mean size %.0f)\n",
        static_cast<unsigned long long>(queries), latency.Percentile(0.5), latency.Percentile(0.9),
        latency.Percentile(0.99), latency.Percentile(1.0), static_cast<double>(checksum) / queries);
  }
  // Writing and reading the index file (what a CLI call pays before its first count).
  const auto ser = Clock::now();
  const std::string bytes = index.Serialize();
  const double ser_s = Seconds(ser);
  const auto de = Clock::now();
  auto back = AudienceIndex::Deserialize(bytes);
  const double de_s = Seconds(de);
  std::printf("\nindex file %.0f MB: serialize %.2f s, deserialize %.2f s (%s)\n",
              bytes.size() / 1e6, ser_s, de_s, back.ok() ? "ok" : "FAILED");
  return back.ok() ? 0 : 1;
}
