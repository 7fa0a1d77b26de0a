// `tessera audience count|overlap|...`: audiences over the audience index (docs/audiences.md).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_common.h"
#include "tessera/analytics/segments.h"
#include "tessera/audience/activation.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/audience/report.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"

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
  TESSERA_ASSIGN_OR_RETURN(auto store, server::OpenStore(a.store.store, false));
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
    TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(*store).List());
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
  const int column = audience::DescribeExpressionError(status).column;
  if (status.code() == StatusCode::kInvalidArgument && column >= 1 &&
      expression.find('\n') == std::string::npos) {
    std::fprintf(stderr, "  %s\n  %*s^\n", expression.c_str(), column - 1, "");
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
    const int n = audience::DescribeExpressionError(report.status()).expression;
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

int RunSave(const AudienceArgs& a, const std::string& name, const std::string& expression,
            bool replace) {
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  auto size = audience::SaveAudience(*opened->store, opened->index, name, expression, replace);
  if (!size.ok()) return FailExpression(size.status(), expression);
  std::printf("%s audience '%s': %s customers (snapshot %lld)\n", replace ? "Updated" : "Saved",
              name.c_str(), WithThousands(*size).c_str(),
              static_cast<long long>(opened->index.info().snapshot_id));
  return 0;
}

int RunDelete(const AudienceArgs& a, const std::string& name) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  auto deleted = audience::AudienceStore(**store).Delete(name);
  if (!deleted.ok()) return Fail(deleted.status());
  if (!*deleted) return Fail(NotFoundError("no audience named '{}'", name));
  std::printf("Deleted audience '%s' (its history is kept)\n", name.c_str());
  return 0;
}

int RunList(const AudienceArgs& a, const std::string& history_of) {
  if (!history_of.empty()) {
    auto store = server::OpenStore(a.store.store, false);
    if (!store.ok()) return Fail(store.status());
    auto history = audience::AudienceStore(**store).History(history_of);
    if (!history.ok()) return Fail(history.status());
    if (history->empty()) return Fail(NotFoundError("no audience named '{}' ever", history_of));
    Status s = Write(a.output, a.format == "json" ? audience::HistoryToJson(*history)
                                                  : audience::HistoryToTable(*history));
    return s.ok() ? 0 : Fail(s);
  }
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  auto listings = audience::ListAudiences(*opened->store, opened->index);
  if (!listings.ok()) return Fail(listings.status());
  Status s = Write(a.output, a.format == "json" ? audience::ListingsToJson(*listings)
                                                : audience::ListingsToTable(*listings));
  return s.ok() ? 0 : Fail(s);
}

int RunExport(const AudienceArgs& a, const std::string& name_or_expression) {
  auto opened = OpenIndex(a);
  if (!opened.ok()) return Fail(opened.status());
  auto resolved = audience::ResolveAudience(*opened->store, name_or_expression);
  if (!resolved.ok()) return Fail(resolved.status());
  auto out = Output::Open(a.output);
  if (!out.ok()) return Fail(out.status());
  auto size = audience::ExportAudience(*opened->store, opened->index, *resolved, (*out)->file());
  if (!size.ok()) return FailExpression(size.status(), resolved->expression);
  if (Status s = (*out)->Commit(); !s.ok()) return Fail(s);
  if (!a.quiet) {
    std::fprintf(stderr, "Exported %s pseudonyms%s\n", WithThousands(*size).c_str(),
                 a.output.empty() || a.output == "-" ? "" : (" to " + a.output).c_str());
  }
  return 0;
}

int RunPolicy(const AudienceArgs& a, int64_t min_size) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  if (min_size > 0) {
    auto key = privacy::OwnerKey::Load(a.store.key);
    if (!key.ok()) return Fail(key.status());
    if (Status s = audience::SetMinExportSize(**store, *key, static_cast<uint64_t>(min_size));
        !s.ok()) {
      return Fail(s);
    }
  }
  auto current = audience::MinExportSize(**store);
  if (!current.ok()) return Fail(current.status());
  std::printf("Minimum export size: %s customers%s\n", WithThousands(*current).c_str(),
              min_size > 0 ? " (set)" : "");
  return 0;
}

int RunAttributesImport(const AudienceArgs& a, const std::string& file) {
  auto store = server::OpenStore(a.store.store, false);
  if (!store.ok()) return Fail(store.status());
  auto lock = (*store)->LockForWriting();
  if (!lock.ok()) return Fail(lock.status());
  auto result = audience::ImportAttributes(**store, file);
  if (!result.ok()) return Fail(result.status());
  for (size_t i = 0; i < result->errors.size() && i < 10; ++i) {
    std::fprintf(stderr, "tessera: skipped %s: %s\n", file.c_str(), result->errors[i].c_str());
  }
  std::printf(
      "Attached %s attributes from %s rows; %s pseudonyms not in the store, %zu rows "
      "skipped\n",
      WithThousands(result->attached).c_str(), WithThousands(result->rows).c_str(),
      WithThousands(result->unknown_customers).c_str(), result->errors.size());
  return 0;
}

int RunMatch(const std::string& key_path, const std::string& crm, const std::string& mapping_name,
             const std::string& audience_file, const std::string& format, const std::string& output,
             bool quiet) {
  auto parsed_format = audience::ParseMatchFormat(format);
  if (!parsed_format.ok()) return Fail(parsed_format.status());
  auto mapping = io::LoadMapping(mapping_name);
  if (!mapping.ok()) return Fail(mapping.status());
  auto key = privacy::OwnerKey::Load(key_path);
  if (!key.ok()) return Fail(key.status());
  auto out = Output::Open(output);
  if (!out.ok()) return Fail(out.status());
  auto summary =
      audience::MatchAudience(*key, crm, *mapping, audience_file, *parsed_format, (*out)->file());
  if (!summary.ok()) return Fail(summary.status());
  if (Status s = (*out)->Commit(); !s.ok()) return Fail(s);
  if (!quiet) std::fprintf(stderr, "Matched:\n%s", summary->ToText().c_str());
  return 0;
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

void UpdateAudienceIndex(store::Store& store, const std::string& location, bool quiet) {
  auto snapshots = analytics::SnapshotStore(store).List();
  if (!snapshots.ok() || snapshots->empty()) return;  // nothing to index before a snapshot
  const std::string path = audience::DefaultIndexPath(location, store.Describe());
  const auto start = std::chrono::steady_clock::now();
  bool rebuilt = false;
  auto index = audience::LoadOrBuildIndex(store, path, &rebuilt);
  if (!index.ok()) {
    std::fprintf(stderr,
                 "tessera: warning: the audience index was not updated (%s); the next `tessera "
                 "audience` command builds it\n",
                 index.status().message().c_str());
    return;
  }
  if (rebuilt && !quiet) {
    std::fprintf(stderr, "Updated the audience index (snapshot %lld) in %.1f s: %s\n",
                 static_cast<long long>(index->info().snapshot_id),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                 path.c_str());
  }
}

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
      "  bought(\"Food > Dairy\", within=90d, min_count=2, min_spend=20)\n"
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
      "bought(\"Dairy\", within=90d)'");
  count->callback([rc] { *rc = RunCount(args, expression); });

  auto* overlap = aud->add_subcommand(
      "overlap", "Customers in each pair of audiences, in all and in any of them");
  AddCommonOptions(overlap, &args, true);
  overlap->add_option("expressions", expressions, "Two expressions or more")->required();
  overlap->callback([rc] { *rc = RunOverlap(args, expressions); });

  static std::string name;
  auto* save = aud->add_subcommand("save", "Save a named audience (its expression and size)");
  AddCommonOptions(save, &args, false);
  save->add_option("name", name, "Name of the audience")->required();
  save->add_option("expression", expression, "The audience expression")->required();
  save->callback([rc] { *rc = RunSave(args, name, expression, false); });

  auto* update = aud->add_subcommand("update", "Change a saved audience's expression");
  AddCommonOptions(update, &args, false);
  update->add_option("name", name, "Name of the audience")->required();
  update->add_option("expression", expression, "The new expression")->required();
  update->callback([rc] { *rc = RunSave(args, name, expression, true); });

  auto* del = aud->add_subcommand("delete", "Delete a saved audience (its history is kept)");
  AddCommonOptions(del, &args, false);
  del->add_option("name", name, "Name of the audience")->required();
  del->callback([rc] { *rc = RunDelete(args, name); });

  static std::string history_of;
  auto* list = aud->add_subcommand(
      "list", "Saved audiences with their current size, or one audience's history");
  AddCommonOptions(list, &args, false);
  list->add_option("--format", args.format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  list->add_option("--history", history_of, "Show this audience's history instead");
  list->add_option("--output,-o", args.output, "Write to this file instead of stdout");
  list->callback([rc] { *rc = RunList(args, history_of); });

  auto* exp = aud->add_subcommand(
      "export",
      "Write an audience's members as pseudonyms (CSV, column uuid); refused below the "
      "minimum export size");
  AddCommonOptions(exp, &args, false);
  exp->add_option("audience", expression, "A saved audience's name, or an expression")->required();
  exp->add_option("--output,-o", args.output, "Write to this file instead of stdout");
  exp->footer(
      "Example: tessera audience export \"dairy lovers\" -o dairy.csv\n"
      "The data owner sets the minimum size with `tessera audience policy --min-export-size N` "
      "(default 100).");
  exp->callback([rc] { *rc = RunExport(args, expression); });

  static int64_t min_size = 0;
  auto* policy = aud->add_subcommand(
      "policy", "Show or (the data owner, with the key) set the minimum export size");
  AddStoreOptions(policy, &args.store, true);
  policy
      ->add_option("--min-export-size", min_size,
                   "Refuse exports of audiences with fewer customers (needs the store's key)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  policy->callback([rc] { *rc = RunPolicy(args, min_size); });

  static std::string attributes_file;
  auto* attributes = aud->add_subcommand(
      "attributes", "Attach attributes from other sources to customers, by pseudonym");
  attributes->require_subcommand(1);
  auto* import = attributes->add_subcommand(
      "import", "Read a CSV with columns uuid,name,value; usable as name = \"value\"");
  AddStoreOptions(import, &args.store, false);
  import->add_option("file", attributes_file, "The CSV file")->required();
  import->callback([rc] { *rc = RunAttributesImport(args, attributes_file);
});

auto* index = aud->add_subcommand(
    "index", "Build the audience index now (e.g. after a load) and describe it");
AddCommonOptions(index, &args, false);
index->callback([rc] { *rc = RunIndex(args); });
}  // namespace tessera

void AddMatchCommand(CLI::App& app, int* rc) {
  static std::string key = privacy::DefaultKeyPath(), crm, mapping = "generic", audience_file,
                     format = "rows", output;
  static bool quiet = false;
  auto* match = app.add_subcommand(
      "match",
      "On the data owner's side: the CRM rows of an audience export, its hashed e-mails for "
      "Google Ads or Meta, or its contacts for the owner's Klaviyo, Mailchimp or Brevo");
  match->add_option("--crm", crm, "The owner's CRM file (CSV with customer ids and/or e-mails)")
      ->required();
  match
      ->add_option("--mapping", mapping,
                   "Preset or mapping file naming the customer_id and email columns")
      ->capture_default_str();
  match->add_option("--key", key, "The data owner's key file")
      ->envname("TESSERA_KEY")
      ->capture_default_str();
  match->add_option("--audience", audience_file, "An audience export (tessera audience export)")
      ->required();
  match
      ->add_option("--format", format,
                   "rows (the CRM rows), google (Customer Match: Email, and Phone, First "
                   "Name, Last Name, Country, Zip where the CRM file has them; gmail dots "
                   "removed) or meta (Custom Audiences: email), hashed as each platform asks; "
                   "klaviyo, mailchimp or brevo: the owner's own contacts in the clear, in each "
                   "e-mail tool's import columns (docs/audiences.md)")
      ->check(CLI::IsMember({"rows", "google", "meta", "klaviyo", "mailchimp", "brevo"}))
      ->capture_default_str();
  match->add_option("--output,-o", output, "Write to this file instead of stdout");
  match->add_flag("--quiet,-q", quiet, "No summary on stderr");
  match->footer(
      "Example: tessera match --crm crm.csv --audience dairy.csv --format meta -o upload.csv\n"
      "The store never sees the CRM file: matching pseudonymizes it with the key, here.");
  match->callback(
      [rc] { *rc = RunMatch(key, crm, mapping, audience_file, format, output, quiet); });
}

}  // namespace tessera
