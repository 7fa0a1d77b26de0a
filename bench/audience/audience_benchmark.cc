// The audience index at the scale of the issue: N customers (default 10 M), 5,000 leaf
// categories under 10 departments and 100 aisles, a year of purchases. The index is built
// directly from synthetic features (IndexBuilder, as BuildIndex does from a store), then
// expressions are counted many times with varying categories and constants; the program
// prints build time, memory and count latency percentiles, and checks each count against a
// second evaluation so the work cannot be optimized away.
//
//   audience_benchmark [--customers N] [--categories C] [--queries Q] [--seed S]
//                      [--workdir DIR [--serve]]
//
// With --workdir the program also writes the data it indexes, as a peer loads it (CSV:
// customers.csv, categories.csv, purchases.csv), and its queries with their translation into
// SQL over those tables (queries.jsonl). With --serve it then prints its build figures as one
// JSON line and, instead of timing the queries itself, counts the query whose number it reads
// on each line of standard input (once to warm up, once timed) and answers with a JSON line:
// bench/audience/compare runs it side by side with DuckDB that way.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
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

// A CSV file written through a buffer. Not copyable; errors show in Close().
class CsvFile {
 public:
  explicit CsvFile(const std::string& path) : file_(std::fopen(path.c_str(), "wb")) {}
  CsvFile(const CsvFile&) = delete;
  CsvFile& operator=(const CsvFile&) = delete;
  ~CsvFile() { Close(); }

  CsvFile& Text(std::string_view s) {
    buffer_.append(s);
    return *this;
  }
  CsvFile& Int(int64_t v) {
    char digits[24];
    buffer_.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
    return *this;
  }
  CsvFile& Comma() { return Text(","); }
  void EndLine() {
    buffer_ += '\n';
    if (buffer_.size() >= (1 << 20)) Flush();
  }
  // False when the file could not be opened or written.
  bool Close() {
    Flush();
    if (file_ != nullptr) {
      ok_ = std::fclose(file_) == 0 && ok_;
      file_ = nullptr;
    }
    return ok_;
  }

 private:
  void Flush() {
    if (file_ == nullptr) {
      ok_ = false;
    } else if (!buffer_.empty()) {
      ok_ = std::fwrite(buffer_.data(), 1, buffer_.size(), file_) == buffer_.size() && ok_;
    }
    buffer_.clear();
  }
  std::FILE* file_;
  std::string buffer_;
  bool ok_ = true;
};

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The category tree: leaf c (0-based) lies in aisle c % 100, aisle a in department a % 10.
std::string Department(uint64_t d) { return "Dept " + std::to_string(d); }
std::string Aisle(uint64_t a) { return Department(a % 10) + " > Aisle " + std::to_string(a); }
std::string Leaf(uint64_t c) { return Aisle(c % 100) + " > Leaf " + std::to_string(c); }

// A leaf among the 500 most popular.
uint32_t PopularLeaf(std::mt19937_64& r, uint32_t leaves) {
  return static_cast<uint32_t>(r() % std::min<uint32_t>(leaves, 500));
}

// One benchmark query: the expression and its translation into SQL over the tables the
// program writes (customers: one row per customer, NULLs without a profile; purchases: one row
// per customer, leaf and day with its spend, and the leaf's aisle and department as columns).
struct Query {
  size_t shape;
  std::string text, sql;
};

struct QueryContext {
  uint32_t leaves;
  int64_t as_of, start;
};

// The SQL of bought(...): a node at depth 1, 2 or 3 is the purchase rows whose `level`
// (dept, aisle, leaf) is its number; within= is a first day, inclusive; min_count counts
// distinct days, min_spend (minor units) sums the spend of the node and everything below it.
std::string BoughtSql(const QueryContext& q, bool negate, const char* level, uint64_t id,
                      int64_t from_day, uint32_t min_count, int64_t min_spend_minor) {
  std::string s = std::string("c.customer ") + (negate ? "NOT IN" : "IN") +
                  " (SELECT customer FROM purchases WHERE " + level + " = " + std::to_string(id);
  if (from_day > q.start) s += " AND day >= " + std::to_string(from_day);
  if (min_count > 1 || min_spend_minor > 0) {
    s += " GROUP BY customer HAVING ";
    if (min_count > 1) s += "count(DISTINCT day) >= " + std::to_string(min_count);
    if (min_count > 1 && min_spend_minor > 0) s += " AND ";
    if (min_spend_minor > 0) s += "sum(spend_minor) >= " + std::to_string(min_spend_minor);
  }
  return s + ")";
}

struct Shape {
  const char* name;
  Query (*make)(std::mt19937_64&, const QueryContext&);
};

// Five predicates each; categories and constants vary between the queries of a shape.
const Shape kShapes[] = {
    {"5 predicates, standard windows",
     [](std::mt19937_64& r, const QueryContext& q) {
       const uint64_t clv = r() % 400;
       const uint32_t bought = PopularLeaf(r, q.leaves), not_bought = PopularLeaf(r, q.leaves);
       return Query{
           0,
           "segment in [\"champions\", \"loyal\"] and clv > " + std::to_string(clv) +
               " and bought(\"" + Leaf(bought) + "\", within=90d) and not bought(\"" +
               Leaf(not_bought) + "\", within=365d) and region = \"south\"",
           "SELECT count(*) FROM customers c WHERE c.segment IN ('champions', 'loyal') AND "
           "c.clv_minor > " +
               std::to_string(clv * 100) + " AND " +
               BoughtSql(q, false, "leaf", bought, q.as_of - 89, 1, 0) + " AND " +
               BoughtSql(q, true, "leaf", not_bought, q.as_of - 364, 1, 0) +
               " AND c.region = 'south'"};
     }},
    {"5 predicates, min_count/min_spend (postings)",
     [](std::mt19937_64& r, const QueryContext& q) {
       const uint32_t leaf = PopularLeaf(r, q.leaves);
       const uint64_t aisle = r() % 100;
       return Query{
           1,
           "segment in [\"champions\", \"loyal\", \"potential_loyalists\"] and orders >= 2 "
           "and bought(\"" +
               Leaf(leaf) + "\", within=60d, min_count=1, min_spend=20) and bought(\"" +
               Aisle(aisle) + "\", min_count=2) and channel in [\"online\", \"app\"]",
           "SELECT count(*) FROM customers c WHERE c.segment IN ('champions', 'loyal', "
           "'potential_loyalists') AND c.orders >= 2 AND " +
               BoughtSql(q, false, "leaf", leaf, q.as_of - 59, 1, 2000) + " AND " +
               BoughtSql(q, false, "aisle", aisle, q.start, 2, 0) +
               " AND c.channel IN ('online', 'app')"};
     }},
    {"5 predicates, an aisle (50 leaves) and a department",
     [](std::mt19937_64& r, const QueryContext& q) {
       const uint64_t aisle = r() % 100, department = r() % 10;
       return Query{
           2,
           "recency_days <= 30 and r_score in [4, 5] and bought(\"" + Aisle(aisle) +
               "\", within=90d) and not bought(\"" + Department(department) +
               "\", within=30d) and region != \"north\"",
           "SELECT count(*) FROM customers c WHERE c.recency_days <= 30 AND c.r_score IN (4, 5) "
           "AND " +
               BoughtSql(q, false, "aisle", aisle, q.as_of - 89, 1, 0) + " AND " +
               BoughtSql(q, true, "dept", department, q.as_of - 29, 1, 0) +
               " AND c.region <> 'north'"};
     }},
};

// Counts one query as the CLI does (parse, evaluate, size, segment breakdown); its time in ms.
bool Count(const AudienceIndex& index, const std::string& text, uint64_t* size, double* ms) {
  const auto t0 = Clock::now();
  auto report = tessera::audience::CountAudience(index, text, tessera::analytics::Lang::kEn);
  *ms = Seconds(t0) * 1000;
  if (!report.ok()) {
    std::fprintf(stderr, "%s: %s\n", text.c_str(), report.status().message().c_str());
    return false;
  }
  *size = report->size;
  return true;
}

// Answers "N" lines on standard input with {"i":N,"count":...,"ms":...}: query N counted once
// to warm up and once timed, both counts checked against a second evaluation.
int Serve(const AudienceIndex& index, const std::vector<Query>& queries) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    size_t i = 0;
    const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), i);
    if (error != std::errc() || end != line.data() + line.size() || i >= queries.size()) {
      std::fprintf(stderr, "no query %s\n", line.c_str());
      return 1;
    }
    uint64_t warm = 0, size = 0;
    double warm_ms = 0, ms = 0;
    if (!Count(index, queries[i].text, &warm, &warm_ms) ||
        !Count(index, queries[i].text, &size, &ms)) {
      return 1;
    }
    auto again = Expression::Parse(queries[i].text, index);
    if (warm != size || !again.ok() || again->Evaluate().Cardinality() != size) {
      std::fprintf(stderr, "inconsistent count for %s\n", queries[i].text.c_str());
      return 1;
    }
    std::printf("{\"i\":%zu,\"count\":%llu,\"ms\":%.4f}\n", i,
                static_cast<unsigned long long>(size), ms);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t customers = 10'000'000, queries = 300, seed = 7;
  uint32_t categories = 5000;
  std::string workdir;
  bool serve = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--serve") {
      serve = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", a.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    const uint64_t v = std::strtoull(value.c_str(), nullptr, 10);
    if (a == "--customers") {
      customers = v;
    } else if (a == "--categories") {
      categories = static_cast<uint32_t>(v);
    } else if (a == "--queries") {
      queries = v;
    } else if (a == "--seed") {
      seed = v;
    } else if (a == "--workdir") {
      workdir = value;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (serve && workdir.empty()) {
    std::fprintf(stderr, "--serve needs --workdir (the queries are written there)\n");
    return 2;
  }
  if (categories < 100 || queries == 0) {
    std::fprintf(stderr, "--categories must be 100 or more (100 aisles), --queries 1 or more\n");
    return 2;
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

  // The peer's copy of the data, written as it is generated (time kept apart).
  std::unique_ptr<CsvFile> customers_csv, purchases_csv;
  if (!workdir.empty()) {
    CsvFile categories_csv(workdir + "/categories.csv");
    categories_csv.Text("leaf,aisle,dept,path").EndLine();
    for (uint32_t c = 0; c < categories; ++c) {
      categories_csv.Int(c).Comma().Int(c % 100).Comma().Int(c % 10).Comma().Text(Leaf(c));
      categories_csv.EndLine();
    }
    customers_csv = std::make_unique<CsvFile>(workdir + "/customers.csv");
    customers_csv->Text(
        "customer,segment,clv_minor,orders,recency_days,r_score,f_score,m_score,region,channel");
    customers_csv->EndLine();
    purchases_csv = std::make_unique<CsvFile>(workdir + "/purchases.csv");
    purchases_csv->Text("customer,day,leaf,spend_minor").EndLine();
    if (!categories_csv.Close()) {
      std::fprintf(stderr, "cannot write %s/categories.csv\n", workdir.c_str());
      return 1;
    }
  }
  double csv_s = 0;

  const double rss_before = MemoryMb("VmRSS:");
  const auto start = Clock::now();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  tessera::audience::IndexBuilder builder(info, segments);
  // Categories: department > aisle > leaf, popularity Zipf(1) over the leaves.
  std::vector<std::string> leaf_paths(categories);
  for (uint32_t c = 0; c < categories; ++c) {
    leaf_paths[c] = Leaf(c);
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
  struct Line {
    int64_t day;
    uint32_t leaf;
    int64_t spend;
  };
  std::vector<Line> lines;  // one customer's, for the CSV
  for (uint32_t c = 0; c < customers; ++c) {
    // 90% bought in the window; the rest are in the universe only.
    if (unit(rng) < 0.9) {
      tessera::analytics::Profile p;
      p.customer = c;
      p.order_count = 1 + static_cast<uint32_t>(-std::log(1 - unit(rng)) * 3);
      p.revenue_minor = static_cast<int64_t>(p.order_count * 2000 * std::exp(unit(rng) * 2));
      p.recency_days = static_cast<int32_t>(unit(rng) * 365);
      p.r_score = static_cast<uint8_t>(5 - p.recency_days / 73);
      p.f_score = static_cast<uint8_t>(std::min<uint32_t>(5, p.order_count));
      p.m_score = static_cast<uint8_t>(1 + std::min<int64_t>(4, p.revenue_minor / 10000));
      p.segment = rules->Assign(p.r_score, p.f_score, p.m_score);
      builder.AddProfile(p);
      lines.clear();
      // One purchase day per order, 1-3 categories each.
      for (uint32_t o = 0; o < p.order_count; ++o) {
        const int64_t day = as_of - static_cast<int64_t>(unit(rng) * 365);
        const int n = 1 + static_cast<int>(unit(rng) * 3);
        for (int l = 0; l < n; ++l) {
          const uint32_t leaf = pick_category();
          const int64_t spend = 100 + static_cast<int64_t>(rng() % 5000);
          builder.AddPurchase(c, day, leaf + 1, spend);
          if (purchases_csv) lines.push_back({day, leaf, spend});
          ++purchases;
        }
      }
      const char* region = kRegions[rng() % 5];
      const char* channel = kChannels[rng() % 3];
      builder.AddAttribute("region", region, c);
      builder.AddAttribute("channel", channel, c);
      if (customers_csv) {
        const auto t0 = Clock::now();
        customers_csv->Int(c).Comma().Text(segments[p.segment].key).Comma();
        customers_csv->Int(p.revenue_minor).Comma().Int(p.order_count).Comma();
        customers_csv->Int(p.recency_days).Comma().Int(p.r_score).Comma().Int(p.f_score).Comma();
        customers_csv->Int(p.m_score).Comma().Text(region).Comma().Text(channel).EndLine();
        for (const Line& l : lines) {
          purchases_csv->Int(c).Comma().Int(l.day).Comma().Int(l.leaf).Comma().Int(l.spend);
          purchases_csv->EndLine();
        }
        csv_s += Seconds(t0);
      }
    } else if (customers_csv) {
      customers_csv->Int(c).Text(",,,,,,,,,").EndLine();
    }
  }
  if (customers_csv) {
    const auto t0 = Clock::now();
    if (!customers_csv->Close() || !purchases_csv->Close()) {
      std::fprintf(stderr, "cannot write the CSV files in %s\n", workdir.c_str());
      return 1;
    }
    csv_s += Seconds(t0);
  }
  const double generate_s = Seconds(start) - csv_s;
  const auto finish_start = Clock::now();
  AudienceIndex index = builder.Finish();
  const double finish_s = Seconds(finish_start);
  const double rss_after = MemoryMb("VmRSS:");
  const double peak = MemoryMb("VmHWM:");
  const double index_mb = index.SizeInBytes() / 1e6;
  if (!serve) {
    std::printf(
        "customers %llu, leaf categories %u (%zu nodes), purchase lines %llu\n"
        "build: features generated and added in %.1f s, index finished in %.1f s\n"
        "index size %.0f MB (%.1f bytes per customer); RSS %.0f MB after build (%.0f before), "
        "peak %.0f MB\n",
        static_cast<unsigned long long>(customers), categories, index.categories().size(),
        static_cast<unsigned long long>(purchases), generate_s, finish_s, index_mb,
        index_mb * 1e6 / customers, rss_after, rss_before, peak);
    if (!workdir.empty()) std::printf("CSV files for a peer written in %.1f s\n", csv_s);
  }

  const QueryContext context{categories, as_of, info.start_day};
  std::vector<Query> all;
  for (const Shape& shape : kShapes) {
    std::mt19937_64 qrng(seed + 1);
    for (uint64_t i = 0; i < queries; ++i) all.push_back(shape.make(qrng, context));
  }
  if (!workdir.empty()) {
    std::ofstream out(workdir + "/queries.jsonl");
    for (size_t i = 0; i < all.size(); ++i) {
      out << "{\"i\":" << i << ",\"shape\":" << all[i].shape
          << ",\"shape_name\":" << JsonString(kShapes[all[i].shape].name)
          << ",\"text\":" << JsonString(all[i].text) << ",\"sql\":" << JsonString(all[i].sql)
          << "}\n";
    }
    if (!out.flush()) {
      std::fprintf(stderr, "cannot write %s/queries.jsonl\n", workdir.c_str());
      return 1;
    }
  }
  if (serve) {
    std::printf(
        "{\"customers\":%llu,\"leaf_categories\":%u,\"nodes\":%zu,\"purchase_lines\":%llu,"
        "\"generate_s\":%.3f,\"finish_s\":%.3f,\"csv_s\":%.3f,\"index_mb\":%.1f,"
        "\"rss_mb\":%.1f,\"rss_before_mb\":%.1f,\"peak_rss_mb\":%.1f,\"queries\":%zu}\n",
        static_cast<unsigned long long>(customers), categories, index.categories().size(),
        static_cast<unsigned long long>(purchases), generate_s, finish_s, csv_s, index_mb,
        rss_after, rss_before, peak, all.size());
    std::fflush(stdout);
    return Serve(index, all);
  }

  for (size_t s = 0; s < std::size(kShapes); ++s) {
    Latency latency;
    uint64_t checksum = 0;
    for (uint64_t i = 0; i < queries; ++i) {
      const std::string& text = all[s * queries + i].text;
      uint64_t size = 0;
      double ms = 0;
      if (!Count(index, text, &size, &ms)) return 1;
      latency.ms.push_back(ms);
      checksum += size;
      if (i == 0) {
        auto again = Expression::Parse(text, index);
        if (!again.ok() || again->Evaluate().Cardinality() != size) {
          std::fprintf(stderr, "inconsistent count for %s\n", text.c_str());
          return 1;
        }
        std::printf("\n%s, e.g.\n  %s\n  -> %llu customers\n", kShapes[s].name, text.c_str(),
                    static_cast<unsigned long long>(size));
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
