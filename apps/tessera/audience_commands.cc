// `tessera audience count|overlap|...`: audiences over the audience index (docs/audiences.md).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_common.h"
#include "tessera/analytics/segments.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/audience/report.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"

namespace tessera {
namespace {

struct AudienceArgs {
  StoreArgs store;
  std::string index;  // default: audience::DefaultIndexPath
  std::string format = "table";
  std::string lang = "en";
  std::string output;
  bool quiet = false;
};

struct OpenedIndex {
  std::unique_ptr<store::Store> store;
  audience::AudienceIndex index;
};

// Opens the store and its audience index, building the index when the store changed since.
StatusOr<OpenedIndex> OpenIndex(const AudienceArgs& a) {
  TESSERA_ASSIGN_OR_RETURN(auto store, store::Store::Open(a.store.store, false));
  const std::string path =
      a.index.empty() ? audience::DefaultIndexPath(a.store.store, store->Describe()) : a.index;
  const auto start = std::chrono::steady_clock::now();
  bool rebuilt = false;
  TESSERA_ASSIGN_OR_RETURN(auto index, audience::LoadOrBuildIndex(*store, path, &rebuilt));
  if (rebuilt && !a.quiet) {
    std::fprintf(stderr,
                 "tessera: built the audience index from snapshot %lld (the store changed since "
                 "the last one) in %.1f s: %s\n",
                 static_cast<long long>(index.info().snapshot_id),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                 path.c_str());
  }
  if (!a.quiet) {
    TESSERA_ASSIGN_OR_RETURN(auto loads, store->Loads());
    TESSERA_ASSIGN_OR_RETURN(auto snapshots, store->Snapshots());
    if (!loads.empty() && !snapshots.empty() &&
        snapshots.back().last_load_id < loads.back().load_id) {
      std::fprintf(stderr,
                   "tessera: note: the newest snapshot (%lld) predates load %lld; segments and "
                   "scores include it after `tessera snapshots create`\n",
                   static_cast<long long>(snapshots.back().id),
                   static_cast<long long>(loads.back().load_id));
    }
  }
  return OpenedIndex{std::move(store), std::move(index)};
}

// The error, and for expression errors the expression with a caret under the column.
int FailExpression(const Status& status, const std::string& expression) {
  const int rc = Fail(status);
  const std::string& m = status.message();
  const size_t at = m.find("column ");
  if (status.code() == StatusCode::kInvalidArgument && at != std::string::npos) {
    const long column = std::strtol(m.c_str() + at + 7, nullptr, 10);
    if (column >= 1 && expression.find('\n') == std::string::npos) {
      std::fprintf(stderr, "  %s\n  %*s^\n", expression.c_str(), static_cast<int>(column - 1), "");
    }
  }
  return rc;
}

Status Write(const std::string& output, const std::string& text) {
  TESSERA_ASSIGN_OR_RETURN(auto out, Output::Open(output));
  std::fwrite(text.data(), 1, text.size(), out->file());
  return out->Commit();
}

int RunCount(const AudienceArgs& a, const std::string& expression) {
  auto lang = analytics::ParseLang(a.lang);
  if (!lang.ok()) return Fail(lang.status());
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  auto report = audience::CountAudience(opened->index, expression, *lang);
  if (!report.ok()) return FailExpression(report.status(), expression);
  const std::string text = a.format == "json"  ? report->ToJson()
                           : a.format == "csv" ? report->ToCsv()
                                               : report->ToTable();
  Status s = Write(a.output, text);
  return s.ok() ? 0 : Fail(s);
}

int RunOverlap(const AudienceArgs& a, const std::vector<std::string>& expressions) {
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  auto report = audience::OverlapAudiences(opened->index, expressions);
  if (!report.ok()) {
    const std::string& m = report.status().message();
    const long n = m.starts_with("expression ") ? std::strtol(m.c_str() + 11, nullptr, 10) : 0;
    if (n >= 1 && static_cast<size_t>(n) <= expressions.size()) {
      return FailExpression(report.status(), expressions[n - 1]);
    }
    return Fail(report.status());
  }
  const std::string text = a.format == "json"  ? report->ToJson()
                           : a.format == "csv" ? report->ToCsv()
                                               : report->ToTable();
  Status s = Write(a.output, text);
  return s.ok() ? 0 : Fail(s);
}

int RunIndex(const AudienceArgs& a) {
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  const auto& x = opened->index;
  std::printf(
      "Audience index of snapshot %lld (window %s to %s): %s customers, %zu segments, %zu "
      "numbers, %zu category nodes, %zu attributes, %.1f MB\n",
      static_cast<long long>(x.info().snapshot_id), x.info().window.c_str(),
      FormatIsoDate(x.info().as_of_day).c_str(), WithThousands(x.info().customers).c_str(),
      x.segments().size(), x.numbers().size(), x.categories().size(), x.attributes().size(),
      x.SizeInBytes() / 1e6);
  return 0;
}

void AddCommonOptions(CLI::App* cmd, AudienceArgs* a, bool formats) {
  AddStoreOptions(cmd, &a->store, false);
  cmd->add_option("--index", a->index,
                  "Audience index file (default: beside an SQLite store, STORE.audience; under "
                  "~/.cache/tessera for PostgreSQL)");
  if (formats) {
    cmd->add_option("--format", a->format, "table, json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->capture_default_str();
    cmd->add_option("--output,-o", a->output, "Write to this file instead of stdout");
  }
  cmd->add_flag("--quiet,-q", a->quiet, "No notes on stderr (index rebuilt, stale snapshot)");
}

}  // namespace

void AddAudienceCommands(CLI::App& app, int* rc) {
  static AudienceArgs args;
  static std::string expression;
  static std::vector<std::string> expressions;
  auto* aud = app.add_subcommand(
      "audience", "Target audiences: size, overlap, save and export them (docs/audiences.md)");
  aud->require_subcommand(1);
  aud->footer(
      "Expressions:\n"
      "  segment in [\"champions\", \"loyal\"] and clv > 200\n"
      "  bought(\"Food > Dairy > Cheese\", within=90d, min_count=2, min_spend=20)\n"
      "  region = \"south\" and not channel in [\"online\"] and recency_days <= 30\n"
      "Fields: segment, clv, orders, recency_days, aov, r_score, f_score, m_score, "
      "predicted_clv, p_alive, store, region, channel, attached attributes.\n"
      "The index is built from the newest snapshot (`tessera snapshots create`) and rebuilt "
      "when the store changes.");

  auto* count = aud->add_subcommand(
      "count", "Size of an audience, its share of all customers and its segments");
  AddCommonOptions(count, &args, true);
  count->add_option("--lang", args.lang, "Segment names in en or de")->capture_default_str();
  count->add_option("expression", expression, "The audience expression")->required();
  count->footer(
      "Example: tessera audience count 'segment in [\"VIPs\", \"loyal\"] and "
      "bought(\"Cheese\", within=90d)'");
  count->callback([rc] { *rc = RunCount(args, expression); });

  auto* overlap = aud->add_subcommand(
      "overlap", "Customers in each pair of audiences, in all and in any of them");
  AddCommonOptions(overlap, &args, true);
  overlap->add_option("expressions", expressions, "Two expressions or more")->required();
  overlap->callback([rc] { *rc = RunOverlap(args, expressions); });

  auto* index = aud->add_subcommand(
      "index", "Build the audience index now (e.g. after a load) and describe it");
  AddCommonOptions(index, &args, false);
  index->callback([rc] { *rc = RunIndex(args); });
}

}  // namespace tessera
