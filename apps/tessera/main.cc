// The tessera command: parses arguments, calls the libraries, prints results. Business logic
// lives in the libraries; errors arrive as Status values and leave as one clear line.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis.h"
#include "cli_common.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/predict.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/audience/people.h"
#include "tessera/collab/party.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"
#include "tessera/ingest/loader.h"
#include "tessera/io/generator.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/store.h"

namespace tessera {
namespace {

// A one-line progress display on a terminal; silent when stderr is not a terminal.
class ProgressLine {
 public:
  // `written`: what a load writes ("orders", "people").
  ProgressLine(bool enabled, const char* written)
      : enabled_(enabled && ::isatty(STDERR_FILENO) != 0), written_(written) {}
  void Update(const ingest::LoadProgress& p) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    if (p.writing) {
      std::fprintf(stderr, "\r\033[K  writing: %llu %s stored",
                   static_cast<unsigned long long>(p.orders_written), written_);
    } else {
      std::string bar;
      if (p.bytes_total > 0) {
        const int filled = static_cast<int>(30.0 * p.bytes_read / p.bytes_total);
        bar = "[" + std::string(std::min(filled, 30), '#') +
              std::string(30 - std::min(filled, 30), ' ') + "] ";
      }
      std::fprintf(stderr, "\r\033[K  %s%.1f MB read, %llu rows, %.0f rows/s", bar.c_str(),
                   p.bytes_read / 1e6, static_cast<unsigned long long>(p.rows_read),
                   secs > 0 ? p.rows_read / secs : 0.0);
    }
    std::fflush(stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  const char* written_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

struct IngestArgs {
  std::vector<std::string> files;
  std::string kind = "orders";
  std::string mapping;  // empty: the kind's preset, generic or people
  std::string rejects, summary_json, temp_dir;
  int64_t max_rejects = -1;
  size_t batch = 250'000;
  uint64_t memory_budget = 0;
  bool quiet = false;
};

// A load's summary as the CLI shows it, whichever kind of load it was.
struct LoadReport {
  std::string text, json;
};
template <typename Summary>
StatusOr<LoadReport> ReportOf(StatusOr<Summary> summary) {
  if (!summary.ok()) return summary.status();
  return LoadReport{summary->ToText(), summary->ToJson()};
}

int RunIngest(const StoreArgs& sa, const IngestArgs& args) {
  const auto& [files, kind, mapping_arg, rejects_path, summary_json, temp_dir, max_rejects, batch,
               memory_budget, quiet] = args;
  const bool people = kind == "people";
  if (people && (memory_budget != 0 || !temp_dir.empty())) {
    return Fail(InvalidArgumentError(
        "--memory-budget and --temp-dir apply to orders; a load of people holds them in memory"));
  }
  io::PresetChoice choice{!mapping_arg.empty() ? mapping_arg : people ? "people" : "generic"};
  if (mapping_arg.empty() && !people) {
    // A known shop export is recognized by its header; --mapping always wins.
    auto detected = io::ChooseOrderPreset(files);
    if (!detected.ok()) return Fail(detected.status());
    choice = *std::move(detected);
    if (choice.detected && !quiet) {
      std::fprintf(stderr, "Reading the files with preset '%s' (recognized by their header)\n",
                   choice.name.c_str());
    }
  }
  auto mapping = io::LoadMapping(choice.name);
  if (!mapping.ok()) return Fail(mapping.status());
  auto key = privacy::OwnerKey::Load(sa.key);
  if (!key.ok()) return Fail(key.status());
  auto store = server::OpenStore(sa.store, /*create=*/true);
  if (!store.ok()) return Fail(store.status());

  // Both outputs are opened before the load, so that a path that cannot be written fails the
  // command before anything is stored.
  std::unique_ptr<Output> rejects, summary_out;
  if (!rejects_path.empty()) {
    auto out = Output::Open(rejects_path);
    if (!out.ok()) return Fail(out.status());
    rejects = std::move(*out);
    std::fprintf(rejects->file(), "%s\n", std::string(io::kRejectsCsvHeader).c_str());
  }
  if (!summary_json.empty()) {
    auto out = Output::Open(summary_json);
    if (!out.ok()) return Fail(out.status());
    summary_out = std::move(*out);
  }
  uint64_t shown = 0, total_rejects = 0;
  constexpr uint64_t kShow = 10;
  ProgressLine progress(!quiet, people ? "people" : "orders");
  ingest::LoadOptions options;
  options.mapping = std::move(*mapping);
  options.mapping_detected = choice.detected;
  options.batch_orders = batch;
  options.memory_budget = memory_budget;
  options.temp_dir = temp_dir;
  // A party of collaborations keeps match tokens of its customers' e-mails and phones.
  options.match_tokens = collab::PartyStore((*store)->db()).Show().ok();
  if (max_rejects >= 0) options.max_rejects = static_cast<uint64_t>(max_rejects);
  options.on_progress = [&](const ingest::LoadProgress& p) { progress.Update(p); };
  options.on_reject = [&](const io::Reject& r) {
    ++total_rejects;
    if (rejects) {
      std::fprintf(rejects->file(), "%s\n", io::RejectCsvRow(r).c_str());
    }
    if (shown < kShow) {
      progress.Clear();
      const std::string column =
          r.column > 0 ? fmt::format(":{} ({})", r.column, r.column_name) : std::string();
      std::fprintf(stderr, "tessera: rejected %s:%llu%s: %s\n", r.file.c_str(),
                   static_cast<unsigned long long>(r.line), column.c_str(), r.reason.c_str());
      ++shown;
    }
  };
  auto summary = people ? ReportOf(audience::LoadPeople(**store, *key, files, options))
                        : ReportOf(ingest::LoadOrders(**store, *key, files, options));
  progress.Clear();
  if (rejects) {
    if (Status s = rejects->Commit(); !s.ok()) return Fail(s);
  }
  if (!summary.ok()) return Fail(summary.status());
  if (total_rejects > shown) {
    std::fprintf(stderr, "tessera: ... and %llu more rejected rows%s\n",
                 static_cast<unsigned long long>(total_rejects - shown),
                 rejects ? "" : " (write them all with --rejects FILE)");
  }
  if (!quiet) {
    std::fprintf(stderr, "Loaded into %s\n%s", (*store)->Describe().c_str(), summary->text.c_str());
  }
  if (summary_out) {
    std::fputs((summary->json + "\n").c_str(), summary_out->file());
    if (Status s = summary_out->Commit(); !s.ok()) return Fail(s);
  }
  UpdateAudienceIndex(**store, sa.store, quiet);
  return 0;
}

int RunSegments(const StoreArgs& sa, const AnalysisArgs& aa, const std::string& format,
                const std::string& output) {
  auto analysis = RunAnalysis(sa, aa);
  if (!analysis.ok()) return Fail(analysis.status());
  const auto report = analytics::BuildReport(analysis->set, analysis->rules, analysis->lang);
  auto out = Output::Open(output);
  if (!out.ok()) return Fail(out.status());
  const std::string text = format == "json"  ? report.ToJson()
                           : format == "csv" ? report.ToCsv()
                                             : report.ToTable();
  std::fwrite(text.data(), 1, text.size(), (*out)->file());
  if (Status s = (*out)->Commit(); !s.ok()) return Fail(s);
  return 0;
}

int RunProfiles(const StoreArgs& sa, const AnalysisArgs& aa, const std::string& segment,
                const std::string& format, const std::string& output) {
  auto analysis = RunAnalysis(sa, aa);
  if (!analysis.ok()) return Fail(analysis.status());
  std::optional<int> only;
  if (!segment.empty()) {
    const int i = analysis->rules.Find(segment);
    if (i < 0) {
      std::string known;
      for (const auto& r : analysis->rules.rules()) known += (known.empty() ? "" : ", ") + r.key;
      return Fail(InvalidArgumentError("unknown segment '{}' (known: {})", segment, known));
    }
    only = i;
  }
  auto out = Output::Open(output);
  if (!out.ok()) return Fail(out.status());
  Status s = analytics::WriteProfiles(
      analysis->set, analysis->rules, analysis->lang, only,
      format == "jsonl" ? analytics::ProfileFormat::kJsonLines : analytics::ProfileFormat::kCsv,
      (*out)->file());
  if (s.ok()) s = (*out)->Commit();
  return s.ok() ? 0 : Fail(s);
}

int RunGenerateSubscribers(const io::SubscriberOptions& options, const std::string& output,
                           const std::string& truth_path) {
  auto out = Output::Open(output);
  if (!out.ok()) return Fail(out.status());
  auto truth = io::GenerateSubscribers(options, (*out)->file());
  if (!truth.ok()) return Fail(truth.status());
  if (Status s = (*out)->Commit(); !s.ok()) return Fail(s);
  if (!truth_path.empty()) {
    auto t = Output::Open(truth_path);
    if (!t.ok()) return Fail(t.status());
    std::fputs((truth->ToJson() + "\n").c_str(), (*t)->file());
    if (Status s = (*t)->Commit(); !s.ok()) return Fail(s);
  }
  if (!output.empty() && output != "-") {
    std::fprintf(stderr,
                 "Wrote %s: %llu subscribers, %llu of them customers of the retailer's export "
                 "(%llu by e-mail, %llu by phone), %.1f MB\n",
                 output.c_str(), static_cast<unsigned long long>(truth->subscribers),
                 static_cast<unsigned long long>(truth->shared.people),
                 static_cast<unsigned long long>(truth->shared.by_email),
                 static_cast<unsigned long long>(truth->shared.by_phone), truth->bytes / 1e6);
  }
  return 0;
}

int RunGenerate(io::GeneratorOptions options, const std::string& end, const std::string& output) {
  if (!end.empty()) {
    auto day = ParseIsoDate(end);
    if (!day.ok()) return Fail(day.status().WithContext("--end"));
    options.end_day = *day;
  } else {
    options.end_day = TodayUtc();
  }
  auto out = Output::Open(output);
  if (!out.ok()) return Fail(out.status());
  auto stats = io::GenerateOrders(options, (*out)->file());
  if (!stats.ok()) return Fail(stats.status());
  if (Status s = (*out)->Commit(); !s.ok()) return Fail(s);
  if (!output.empty() && output != "-") {
    std::fprintf(stderr, "Wrote %s: %llu customers, %llu orders, %llu rows, %.1f MB\n",
                 output.c_str(), static_cast<unsigned long long>(stats->customers),
                 static_cast<unsigned long long>(stats->orders),
                 static_cast<unsigned long long>(stats->lines), stats->bytes / 1e6);
  }
  return 0;
}

int RunKeysInit(const std::string& path) {
  auto key = privacy::OwnerKey::Generate();
  if (!key.ok()) return Fail(key.status());
  if (Status s = key->Save(path); !s.ok()) return Fail(s);
  std::printf(
      "Created the data owner's key at %s (mode 0600)\nFingerprint: %s\n"
      "Back it up and keep it out of the store: without it, new loads get new pseudonyms.\n",
      path.c_str(), key->Fingerprint().c_str());
  std::fflush(stdout);  // before anything a following step writes to stderr (tessera demo)
  return 0;
}

int RunPseudonymize(const std::string& key_path, const std::string& kind_name,
                    const std::string& phone_country) {
  auto key = privacy::OwnerKey::Load(key_path);
  if (!key.ok()) return Fail(key.status());
  auto p = privacy::Pseudonymizer::Create(*key);
  if (!p.ok()) return Fail(p.status());
  const auto kind = kind_name == "email"   ? privacy::IdentifierKind::kEmail
                    : kind_name == "phone" ? privacy::IdentifierKind::kPhone
                                           : privacy::IdentifierKind::kCustomerNumber;
  privacy::PhoneDefaults phone;
  if (!phone_country.empty()) {
    auto country = io::FindPhoneCountry(phone_country);
    if (!country.ok()) return Fail(country.status().WithContext("--phone-country"));
    phone.country = *std::move(country);
  }
  std::string line;
  uint64_t n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    auto normalized = privacy::NormalizeIdentifier(kind, line, phone);
    if (!normalized.ok()) {
      std::fprintf(stderr, "tessera: line %llu: %s\n", static_cast<unsigned long long>(n),
                   normalized.status().message().c_str());
      std::printf("\n");
      continue;
    }
    std::printf("%s\n", p->Pseudonym(kind, *normalized).ToString().c_str());
  }
  return 0;
}

int RunOrdersList(const StoreArgs& sa, const std::string& customer) {
  auto store = server::OpenStore(sa.store, false);
  if (!store.ok()) return Fail(store.status());
  std::vector<privacy::Uuid> uuids;
  Status s = (*store)->ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
    if (uuids.size() <= i) uuids.resize(i + 1);
    uuids[i] = u;
  });
  if (!s.ok()) return Fail(s);
  std::optional<privacy::Uuid> only;
  if (!customer.empty()) {
    auto u = privacy::Uuid::Parse(customer);
    if (!u.ok()) return Fail(u.status().WithContext("--customer"));
    only = *u;
  }
  std::printf("order_token,customer_uuid,ordered_at,amount_minor,kind\n");
  static constexpr const char* kKinds[] = {"purchase", "credit", "void"};
  s = (*store)->ScanOrderFields(store::kOrderTokens, [&](const store::OrderColumns& c) {
    for (size_t i = 0; i < c.size(); ++i) {
      const bool anonymous = c.customer[i] == store::kAnonymousCustomer;
      if (only && (anonymous || uuids[c.customer[i]] != *only)) continue;
      std::printf("%s,%s,%s,%lld,%s\n", privacy::HexEncode(c.token(i)).c_str(),
                  anonymous ? "" : uuids[c.customer[i]].ToString().c_str(),
                  FormatIsoTimestamp(c.ordered_at[i]).c_str(),
                  static_cast<long long>(c.amount_minor[i]), kKinds[c.kind[i] % 3]);
    }
    return OkStatus();
  });
  return s.ok() ? 0 : Fail(s);
}

int RunOrdersDecrypt(const std::string& key_path, std::vector<std::string> tokens) {
  auto key = privacy::OwnerKey::Load(key_path);
  if (!key.ok()) return Fail(key.status());
  auto t = privacy::OrderTokenizer::Create(*key);
  if (!t.ok()) return Fail(t.status());
  if (tokens.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) tokens.push_back(line);
  }
  int rc = 0;
  for (const auto& hex : tokens) {
    auto bytes = privacy::HexDecode(hex);
    auto plain = bytes.ok() ? t->Decrypt(*bytes) : StatusOr<std::string>(bytes.status());
    if (!plain.ok()) {
      std::fprintf(stderr, "tessera: %s\n", plain.status().message().c_str());
      rc = kExitError;
      continue;
    }
    std::printf("%s\n", plain->c_str());
  }
  return rc;
}

// A load's summary in words (`GET /api/v1/loads` has it as JSON): what was read, rejected and
// stored. A summary this version cannot read is printed as stored.
std::string LoadSummaryLine(const std::string& summary_json) {
  const auto j = nlohmann::json::parse(summary_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return summary_json;
  const auto n = [&](const char* name) { return j.value(name, uint64_t{0}); };
  const auto count = [&](const char* name) { return WithThousands(n(name)); };
  std::string line =
      fmt::format("{} file{}, {} rows read, {} rejected", count("files"),
                  n("files") == 1 ? "" : "s", count("rows_read"), count("rows_rejected"));
  if (n("duplicate_rows") > 0) line += fmt::format(", {} duplicate", count("duplicate_rows"));
  line += fmt::format("; {} orders stored ({} already there); {} customers ({} new)",
                      count("orders_stored"), count("orders_already_stored"),
                      count("customers_in_input"), count("customers_new"));
  if (j.contains("seconds") && j["seconds"].is_number()) {
    line += fmt::format("; {:.1f} s", j["seconds"].get<double>());
  }
  return line;
}

int RunStatus(const StoreArgs& sa) {
  auto store = server::OpenStore(sa.store, false);
  if (!store.ok()) return Fail(store.status());
  auto stats = (*store)->Stats();
  if (!stats.ok()) return Fail(stats.status());
  auto fp = (*store)->KeyFingerprint();
  if (!fp.ok()) return Fail(fp.status());
  std::printf(
      "%s\n  key fingerprint  %s\n  customers        %llu\n  orders           %llu\n  chunks       "
      "    %llu\n  loads            %llu\n",
      (*store)->Describe().c_str(), fp->value_or("(none yet)").c_str(),
      static_cast<unsigned long long>(stats->customers),
      static_cast<unsigned long long>(stats->orders),
      static_cast<unsigned long long>(stats->chunks),
      static_cast<unsigned long long>(stats->loads));
  auto loads = (*store)->Loads();
  if (loads.ok()) {
    for (const auto& l : *loads) {
      std::printf("  load %lld  %s  %s\n", static_cast<long long>(l.load_id), l.started_at.c_str(),
                  l.finished_at.empty() ? "(interrupted or running)"
                                        : LoadSummaryLine(l.summary_json).c_str());
    }
  }
  return 0;
}

int RunDemo(const std::string& dir, uint64_t customers, int32_t months, uint64_t seed) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string key = dir + "/owner.key", data = dir + "/orders.csv",
                    store_path = dir + "/store.db";
  if (!fs::exists(key)) {
    if (int rc = RunKeysInit(key); rc != 0) return rc;
  }
  fs::remove(store_path, ec);
  fs::remove(store_path + "-wal", ec);
  fs::remove(store_path + "-shm", ec);
  io::GeneratorOptions g;
  g.customers = customers;
  g.months = months;
  g.seed = seed;
  std::fprintf(stderr, "\n1. Generating %llu customers over %d months of orders...\n",
               static_cast<unsigned long long>(customers), months);
  if (int rc = RunGenerate(g, "", data); rc != 0) return rc;
  std::fprintf(stderr, "\n2. Loading them: identifiers pseudonymized, order ids encrypted...\n");
  StoreArgs sa{store_path, key};
  IngestArgs ingest;
  ingest.files = {data};
  if (int rc = RunIngest(sa, ingest); rc != 0) return rc;
  std::fprintf(stderr, "\n3. Segments over the last %d months:\n\n", std::min(months, 24));
  AnalysisArgs aa;
  aa.window = fmt::format("{}m", std::min(months, 24));
  if (int rc = RunSegments(sa, aa, "table", ""); rc != 0) return rc;
  // Keep them as a snapshot, so that `tessera serve` shows them at once.
  auto analysis = RunAnalysis(sa, aa);
  if (!analysis.ok()) return Fail(analysis.status());
  auto store = server::OpenStore(store_path, false);
  if (!store.ok()) return Fail(store.status());
  auto id = analytics::SaveSnapshot(**store, analysis->set, analysis->rules);
  if (!id.ok()) return Fail(id.status());
  std::fflush(stdout);
  UpdateAudienceIndex(**store, store_path, false);  // `tessera audience count` starts at once
  std::fprintf(stderr,
               "\nKept as snapshot %lld. To see it in the browser:\n"
               "  tessera keys api create --role analyst --store %s   # prints a key\n"
               "  tessera serve --store %s                            # open "
               "http://127.0.0.1:8080/\n",
               static_cast<long long>(*id), store_path.c_str(), store_path.c_str());
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{
      "Tessera turns an order export into pseudonymous customer profiles, RFM scores and named "
      "segments.\n\nA first run:\n"
      "  tessera keys init                       # the data owner's secret key, outside the store\n"
      "  tessera ingest orders.csv               # load (customer ids and e-mails become UUIDs)\n"
      "  tessera segments --window 24m           # the nine segments as a table\n"
      "  tessera segments --format json          # ... or as JSON / CSV for BI tools\n"
      "  tessera profiles --segment champions    # one row per customer pseudonym\n"
      "  tessera snapshots create                # keep results for the API, dashboard, BI\n"
      "  tessera serve                           # dashboard and API, http://127.0.0.1:8080/\n"
      "  tessera audience count 'segment = \"VIPs\" and bought(\"Dairy\", within=90d)'\n"
      "                                          # size a target group (docs/audiences.md)\n"
      "Or all at once on generated data: tessera demo",
      "tessera"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tessera 0.1.0");
  app.footer("Environment: TESSERA_STORE and TESSERA_KEY set the defaults of --store and --key.");

  // Each subcommand binds its own variables: CLI11 applies an option's environment default
  // even for subcommands that were not invoked, so shared variables would be overwritten.
  StoreArgs keys_init_args, keys_fp_args, ingest_args, segments_args, profiles_args, pseudo_args,
      list_args, decrypt_args, status_args;
  AnalysisArgs segments_analysis, profiles_analysis;
  int rc = 0;

  // keys
  auto* keys = app.add_subcommand("keys", "Manage the data owner's key");
  keys->require_subcommand(1);
  auto* keys_init =
      keys->add_subcommand("init", "Create a new 256-bit key in a file with mode 0600");
  keys_init->add_option("--key", keys_init_args.key, "Where to write the key")
      ->envname("TESSERA_KEY")
      ->capture_default_str();
  keys_init->callback([&] { rc = RunKeysInit(keys_init_args.key); });
  auto* keys_fp = keys->add_subcommand("fingerprint", "Print the key's public fingerprint");
  keys_fp->add_option("--key", keys_fp_args.key, "The key file")
      ->envname("TESSERA_KEY")
      ->capture_default_str();
  keys_fp->callback([&] {
    auto key = privacy::OwnerKey::Load(keys_fp_args.key);
    if (!key.ok()) {
      rc = Fail(key.status());
      return;
    }
    std::printf("%s\n", key->Fingerprint().c_str());
  });

  // ingest
  IngestArgs ia;
  auto* ingest = app.add_subcommand(
      "ingest",
      "Load order exports (CSV, JSON Lines, gzip, or - for stdin), or with --kind people files "
      "of people and their attributes (subscribers, a CRM extract). Customer numbers, e-mails "
      "and phones become UUIDs and order ids are encrypted before anything is stored; loading "
      "the same file again stores nothing twice.");
  ingest->add_option("files", ia.files, "Order files (or files of people)")->required();
  ingest
      ->add_option("--kind", ia.kind,
                   "orders, or people: one row per person, identifiers (customer_id, email, "
                   "phone) plus attribute columns that audience expressions see")
      ->check(CLI::IsMember({"orders", "people"}))
      ->capture_default_str();
  ingest->add_option("--mapping,--preset", ia.mapping,
                     "Column mapping: a preset (generic, shopify, woocommerce, shopware6, "
                     "magento2, online-retail, cdnow, cdnow-master; for people: people, "
                     "subscribers) or a TOML file (default: the shop export the header is "
                     "recognized as, else generic; people for --kind people)");
  AddStoreOptions(ingest, &ingest_args, true);
  ingest->add_option("--rejects", ia.rejects,
                     "Write every rejected row's file, line, column and reason to this CSV");
  ingest
      ->add_option("--max-rejects", ia.max_rejects,
                   "Fail, storing nothing, when more rows than this are rejected")
      ->check(CLI::NonNegativeNumber);
  ingest->add_option("--batch-size", ia.batch, "Orders (or people) per committed batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  ingest
      ->add_option("--memory-budget", ia.memory_budget,
                   "Memory for the orders gathered before writing (e.g. 512M, 4G; default "
                   "256M); larger loads go through temporary files, partitioned by order")
      ->transform(CLI::AsSizeValue(false));
  ingest
      ->add_option("--temp-dir", ia.temp_dir,
                   "Where a load over its memory budget keeps its temporary files (default "
                   "$TMPDIR, else /tmp); they hold no identifier and vanish with the load")
      ->check(CLI::ExistingDirectory);
  ingest->add_flag("--quiet,-q", ia.quiet, "No progress and no summary");
  ingest->add_option("--summary-json", ia.summary_json,
                     "Also write the load summary as JSON to this file");
  ingest->footer(
      "Examples:\n"
      "  tessera ingest orders.csv                                 # generic header names\n"
      "  tessera ingest orders_export.csv     # a Shopify, WooCommerce, Shopware or Magento "
      "export\n"
      "  tessera ingest online_retail.csv.gz --mapping online-retail\n"
      "  tessera ingest export-*.csv --mapping my-shop.toml --rejects rejects.csv\n"
      "  zcat orders.jsonl.gz | tessera ingest -\n"
      "  tessera ingest subscribers.csv --kind people --mapping subscribers\n"
      "      # people without orders: customer_id/email/phone plus attributes (age_band, tariff,\n"
      "      # ...); then: tessera audience count 'age_band = \"25-34\" and tariff = \"Max\"'\n"
      "A mapping file names your columns; start from config/mappings/generic.toml, or for "
      "people config/mappings/people.toml and its [attributes] (docs/ingest.md).");
  ingest->callback([&] { rc = RunIngest(ingest_args, ia); });

  // segments
  std::string format = "table", output;
  auto* segments = app.add_subcommand(
      "segments", "Per-segment statistics: customers, share, average orders, CLV and recency");
  AddStoreOptions(segments, &segments_args, false);
  AddAnalysisOptions(segments, &segments_analysis);
  segments->add_option("--format", format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  segments->add_option("--output,-o", output, "Write to this file instead of stdout");
  segments->footer(
      "Examples:\n"
      "  tessera segments --window 12m --as-of 2024-06-30\n"
      "  tessera segments --format csv --lang de -o segmente.csv\n"
      "  tessera segments --rules my-segments.toml               # see config/segments.toml\n"
      "Scores: 1 + floor(5 x customers strictly worse / customers), ties never split "
      "(docs/scoring.md).");
  segments->callback([&] { rc = RunSegments(segments_args, segments_analysis, format, output); });

  // profiles
  std::string segment, profile_format = "csv";
  auto* profiles = app.add_subcommand(
      "profiles", "One row per customer pseudonym: scores, segment, orders, CLV, recency");
  AddStoreOptions(profiles, &profiles_args, false);
  AddAnalysisOptions(profiles, &profiles_analysis);
  profiles->add_option("--segment", segment,
                       "Only this segment (key or name, e.g. champions or VIPs)");
  profiles->add_option("--format", profile_format, "csv or jsonl")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  profiles->add_option("--output,-o", output, "Write to this file instead of stdout");
  profiles->footer(
      "Examples:\n"
      "  tessera profiles --segment champions > champions.csv\n"
      "  tessera profiles --segment Wackelkandidaten --lang de --format jsonl");
  profiles->callback(
      [&] { rc = RunProfiles(profiles_args, profiles_analysis, segment, profile_format, output); });

  // generate
  io::GeneratorOptions gen;
  io::SubscriberOptions subscribers;
  std::string end, generate_kind = "orders", truth;
  auto* generate = app.add_subcommand(
      "generate",
      "Write a realistic synthetic order stream (line items, CSV), or with --kind subscribers "
      "a mobile operator's subscriber file that shares a known set of people with it");
  generate->add_option("--kind", generate_kind, "orders (a retailer's export) or subscribers")
      ->check(CLI::IsMember({"orders", "subscribers"}))
      ->capture_default_str();
  auto* customers_option =
      generate
          ->add_option("--customers", gen.customers,
                       "Number of customers (subscribers: of the retailer's export to share "
                       "people with)")
          ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}));
  auto* months_option =
      generate->add_option("--months", gen.months, "Length of the period in months (orders)")
          ->check(CLI::Range(1, 1200));
  generate->add_option("--seed", gen.seed, "Random seed; the same seed gives the same file")
      ->capture_default_str();
  generate->add_option("--end", end, "Last day of the period, YYYY-MM-DD (default: today, UTC)");
  generate->add_option("--categories", gen.categories, "Number of leaf product categories")
      ->capture_default_str();
  generate
      ->add_option("--phone-share", gen.phone_share,
                   "Share of customers with a mobile number, 0..1 (above 0 adds a phone column; "
                   "subscribers: the share the retailer's export was made with)")
      ->check(CLI::Range(0.0, 1.0));
  generate->add_flag("--order-level", gen.order_level,
                     "One row per order with its total (amount) instead of line items, as most "
                     "shop systems export");
  generate->add_flag("--email-only", gen.email_only,
                     "No customer number column: customers known by e-mail address only");
  generate
      ->add_option("--subscribers", subscribers.subscribers,
                   "Subscribers: rows of the subscriber file")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  generate
      ->add_option("--shared", subscribers.shared,
                   "Subscribers: how many of them are customers of the retailer's export (same "
                   "--seed, --customers and --phone-share), with its e-mail address or phone")
      ->capture_default_str();
  generate
      ->add_option("--email-share", subscribers.email_share,
                   "Subscribers: share who gave an e-mail address, 0..1")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  generate->add_option("--truth", truth,
                       "Subscribers: write the truth to this JSON file: shared people by "
                       "identifier kind and by attribute value, as generated");
  generate->add_option("--output,-o", output, "Output file (default: stdout)");
  generate->footer(
      "Example: tessera generate --customers 100000 --months 24 --seed 7 -o orders.csv\n"
      "Line items over thousands of categories, several stores and channels, with cancellations,\n"
      "returns and duplicated rows; streamed, so any size needs the same little memory.\n"
      "The same orders one row per order, customers by e-mail only (Shopify's shape):\n"
      "  tessera generate --customers 100000 --months 24 --seed 7 --order-level --email-only\n"
      "Two parties that share people (a retailer and a mobile operator):\n"
      "  tessera generate --customers 20000 --months 12 --seed 7 --phone-share 0.4 -o orders.csv\n"
      "  tessera generate --kind subscribers --subscribers 30000 --customers 20000 --shared 5000 "
      "\\\n"
      "    --seed 7 --phone-share 0.4 --truth truth.json -o subscribers.csv\n"
      "  tessera ingest subscribers.csv --kind people --mapping subscribers   # the operator's "
      "store");
  generate->callback([&] {
    if (generate_kind == "subscribers") {
      for (const char* only :
           {"--months", "--end", "--categories", "--order-level", "--email-only"}) {
        if (generate->count(only) > 0) {
          rc = Fail(InvalidArgumentError("{} applies to --kind orders", only));
          return;
        }
      }
      subscribers.retailer_customers = customers_option->count() > 0 ? gen.customers : 0;
      subscribers.retailer_phone_share = gen.phone_share;
      subscribers.seed = gen.seed;
      rc = RunGenerateSubscribers(subscribers, output, truth);
      return;
    }
    for (const auto* option : {customers_option, months_option}) {
      if (option->count() == 0) {
        rc = Fail(InvalidArgumentError("{} is required", option->get_name()));
        return;
      }
    }
    for (const char* only : {"--subscribers", "--shared", "--email-share", "--truth"}) {
      if (generate->count(only) > 0) {
        rc = Fail(InvalidArgumentError("{} applies to --kind subscribers", only));
        return;
      }
    }
    rc = RunGenerate(gen, end, output);
  });

  // pseudonymize
  std::string kind = "customer_id";
  auto* pseudo =
      app.add_subcommand("pseudonymize",
                         "Read identifiers from stdin, one per line, and print their UUIDs "
                         "(for erasure requests and matching your CRM)");
  std::string phone_country;
  pseudo->add_option("--kind", kind, "customer_id, email or phone")
      ->check(CLI::IsMember({"customer_id", "email", "phone"}))
      ->capture_default_str();
  pseudo->add_option("--phone-country", phone_country,
                     "For --kind phone: the country of numbers without a country code, as the "
                     "mapping's default_phone_country (DE, or 49)");
  pseudo->add_option("--key", pseudo_args.key, "The key file")
      ->envname("TESSERA_KEY")
      ->capture_default_str();
  pseudo->callback([&] { rc = RunPseudonymize(pseudo_args.key, kind, phone_country); });

  // orders
  auto* orders =
      app.add_subcommand("orders", "Inspect stored orders (tokens only) and decrypt order tokens");
  orders->require_subcommand(1);
  std::string customer;
  auto* orders_list = orders->add_subcommand(
      "list", "List stored orders as CSV: token, customer UUID, time, amount");
  AddStoreOptions(orders_list, &list_args, false);
  orders_list->add_option("--customer", customer, "Only this customer UUID");
  orders_list->callback([&] { rc = RunOrdersList(list_args, customer); });
  std::vector<std::string> tokens;
  auto* orders_decrypt = orders->add_subcommand(
      "decrypt", "Decrypt order tokens (hex) back to order ids; needs the key");
  orders_decrypt->add_option("tokens", tokens, "Tokens (default: read from stdin, one per line)");
  orders_decrypt->add_option("--key", decrypt_args.key, "The key file")
      ->envname("TESSERA_KEY")
      ->capture_default_str();
  orders_decrypt->callback([&] { rc = RunOrdersDecrypt(decrypt_args.key, tokens); });

  // status
  auto* status = app.add_subcommand("status", "Show what a store holds and its load history");
  AddStoreOptions(status, &status_args, false);
  status->callback([&] { rc = RunStatus(status_args); });

  // demo
  std::string demo_dir = "tessera-demo";
  uint64_t demo_customers = 20000;
  int32_t demo_months = 24;
  uint64_t demo_seed = 42;
  auto* demo = app.add_subcommand(
      "demo", "Generate demo orders, load them into a fresh store and print the segments");
  demo->add_option("--dir", demo_dir, "Directory for the demo's key, data and store")
      ->capture_default_str();
  demo->add_option("--customers", demo_customers, "Number of customers")->capture_default_str();
  demo->add_option("--months", demo_months, "Months of history")->capture_default_str();
  demo->add_option("--seed", demo_seed, "Random seed")->capture_default_str();
  demo->callback([&] { rc = RunDemo(demo_dir, demo_customers, demo_months, demo_seed); });

  AddClvCommands(app, &rc);
  AddSnapshotCommands(app, &rc);
  AddServeCommands(app, keys, &rc);
  AddAudienceCommands(app, &rc);
  AddCollabCommands(app, &rc);
  AddMatchCommand(app, &rc);
  AddSourceCommands(app, &rc);
  AddDestinationCommands(app, &rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera: internal error: %s\n", e.what());
    return kExitError;
  }
  // What a command printed to stdout (orders list, status, a table) must have arrived: a full
  // disk or a closed pipe behind `>` is an error, not a success.
  errno = 0;
  if ((std::fflush(stdout) != 0 || std::ferror(stdout)) && rc == 0) {
    std::fprintf(stderr, "tessera: error: cannot write standard output: %s\n",
                 std::strerror(errno != 0 ? errno : EIO));
    return kExitError;
  }
  return rc;
}
