// `tessera source add|list|run|remove`: shops whose orders Tessera pulls and watched folders
// it loads (sources/pull.h).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli_common.h"
#include "tessera/collab/party.h"
#include "tessera/io/mapping.h"
#include "tessera/sources/pull.h"
#include "tessera/sources/source_store.h"

namespace tessera {
namespace {

struct SourceAddArgs {
  StoreArgs store;
  std::string name, url;
  std::string token_env, token_file;
  std::string key_env, secret_env, credentials_file;
  std::string webhook_env, webhook_file;
  std::string dir, mapping;  // folder
  int64_t settle_seconds = 10;
};

// A file is kept by its absolute path, so that `tessera serve` started elsewhere finds it.
std::string Absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  const auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int RunSourceAdd(sources::SourceKind kind, const SourceAddArgs& a) {
  sources::SourceConfig c;
  c.name = a.name;
  c.kind = kind;
  c.url = a.url;
  c.token = {a.token_env, Absolute(a.token_file)};
  c.key = {a.key_env, Absolute(a.credentials_file)};
  c.secret = {a.secret_env, ""};
  c.webhook_secret = {a.webhook_env, Absolute(a.webhook_file)};
  if (kind == sources::SourceKind::kFolder) {
    c.dir = Absolute(a.dir);
    // A mapping file is kept by its absolute path; a preset by its name.
    c.mapping = a.mapping;
    std::error_code file_ec;
    if (!a.mapping.empty() && std::filesystem::is_regular_file(a.mapping, file_ec)) {
      c.mapping = Absolute(a.mapping);
    } else if (!a.mapping.empty()) {
      if (auto m = io::LoadMapping(a.mapping); !m.ok()) return Fail(m.status());
    }
    c.settle_seconds = a.settle_seconds;
  }
  auto store = server::OpenStore(a.store.store, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  if (Status s = sources::SourceStore((*store)->db()).Add(c); !s.ok()) return Fail(s);
  std::error_code ec;
  if (kind == sources::SourceKind::kFolder && !std::filesystem::is_directory(c.dir, ec)) {
    std::fprintf(stderr,
                 "tessera: note: %s is no folder yet; runs of source '%s' fail until it is.\n",
                 c.dir.c_str(), c.name.c_str());
  }
  std::fprintf(stderr, "Added source '%s' (%s, %s). %s its orders with `tessera source run %s`.\n",
               c.name.c_str(), std::string(sources::SourceKindName(kind)).c_str(),
               c.Location().c_str(), kind == sources::SourceKind::kFolder ? "Load" : "Pull",
               c.name.c_str());
  return 0;
}

std::string Credentials(const sources::SourceConfig& c) {
  if (c.kind == sources::SourceKind::kFolder) return "-";
  if (c.kind == sources::SourceKind::kShopify) return c.token.Describe();
  if (!c.key.file.empty()) return c.key.Describe();
  return c.key.Describe() + " " + c.secret.Describe();
}

nlohmann::json RunJson(const sources::SourceRun& r) {
  return {{"id", r.id},
          {"trigger", r.trigger},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at.empty() ? nlohmann::json() : nlohmann::json(r.finished_at)},
          {"pages", r.pages},
          {"orders_seen", r.orders_seen},
          {"orders_stored", r.orders_stored},
          {"rejects", r.rejects},
          {"files_loaded", r.files_loaded},
          {"files_refused", r.files_refused},
          {"files_waiting", r.files_waiting},
          {"outcome", r.outcome},
          {"error", r.error}};
}

std::string RunLine(const sources::SourceRun& r, bool folder) {
  std::string line =
      folder ? fmt::format(
                   "{} {} ({}): {} files loaded, {} refused, {} waiting, {} orders stored, "
                   "{} rejected",
                   r.started_at, r.outcome, r.trigger, r.files_loaded, r.files_refused,
                   r.files_waiting, r.orders_stored, r.rejects)
             : fmt::format("{} {} ({}): {} pages, {} orders stored, {} rejected", r.started_at,
                           r.outcome, r.trigger, r.pages, r.orders_stored, r.rejects);
  if (!r.error.empty()) line += " - " + r.error;
  return line;
}

int RunSourceList(const StoreArgs& sa, const std::string& format, size_t runs) {
  auto store = server::OpenStore(sa.store, /*create=*/false);
  if (!store.ok()) return Fail(store.status());
  sources::SourceStore sources((*store)->db());
  auto all = sources.List();
  if (!all.ok()) return Fail(all.status());
  nlohmann::json out = nlohmann::json::array();
  std::string table = fmt::format("{:<20} {:<12} {:<36} {:<28} {:<10} {}\n", "NAME", "KIND",
                                  "URL/FOLDER", "CREDENTIALS", "WEBHOOK", "LAST RUN");
  for (const auto& c : *all) {
    auto last = sources.Runs(c.name, std::max<size_t>(runs, 1));
    if (!last.ok()) return Fail(last.status());
    nlohmann::json j = {
        {"name", c.name},
        {"kind", sources::SourceKindName(c.kind)},
        {"url", c.kind == sources::SourceKind::kFolder ? nlohmann::json() : nlohmann::json(c.url)},
        {"credentials", Credentials(c)},
        {"webhook_secret",
         c.webhook_secret.empty() ? nlohmann::json() : nlohmann::json(c.webhook_secret.Describe())},
        {"created_at", c.created_at},
        {"runs", nlohmann::json::array()}};
    if (c.kind == sources::SourceKind::kFolder) {
      j["dir"] = c.dir;
      j["mapping"] = c.mapping.empty() ? nlohmann::json() : nlohmann::json(c.mapping);
      j["settle_seconds"] = c.settle_seconds;
    }
    for (size_t i = 0; i < last->size() && i < runs; ++i) j["runs"].push_back(RunJson((*last)[i]));
    out.push_back(j);
    const bool folder = c.kind == sources::SourceKind::kFolder;
    std::string run = "never";
    if (!last->empty()) run = RunLine(last->front(), folder);
    table += fmt::format("{:<20} {:<12} {:<36} {:<28} {:<10} {}\n", c.name,
                         sources::SourceKindName(c.kind), c.Location(), Credentials(c),
                         c.webhook_secret.empty() ? "-" : c.webhook_secret.Describe(), run);
    for (size_t i = 1; i < last->size() && i < runs; ++i) {
      table += fmt::format("{:<20} {}\n", "", RunLine((*last)[i], folder));
    }
  }
  if (format == "json") {
    std::printf("%s\n", out.dump(2).c_str());
  } else if (all->empty()) {
    std::printf("No sources. Add one with `tessera source add shopify|woocommerce|folder ...`.\n");
  } else {
    std::fputs(table.c_str(), stdout);
  }
  return 0;
}

struct SourceRunArgs {
  StoreArgs store;
  std::vector<std::string> names;
  int page_size = 0;
  int max_attempts = 6;
  bool quiet = false;
};

int RunSourceRun(const SourceRunArgs& a) {
  auto key = privacy::OwnerKey::Load(a.store.key);
  if (!key.ok()) return Fail(key.status());
  auto store = server::OpenStore(a.store.store, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  sources::RunOptions o;
  o.page_size = a.page_size;
  o.retry.max_attempts = a.max_attempts;
  // A party of collaborations keeps match tokens of its customers' e-mails and phones.
  o.match_tokens = collab::PartyStore((*store)->db()).Show().ok();
  uint64_t shown = 0, total_rejects = 0;
  o.on_reject = [&](const io::Reject& r) {
    ++total_rejects;
    if (shown++ >= 10) return;
    const std::string column = r.column > 0 ? fmt::format(" ({})", r.column_name) : std::string();
    std::fprintf(stderr, "tessera: rejected %s, record %llu%s: %s\n", r.file.c_str(),
                 static_cast<unsigned long long>(r.line), column.c_str(), r.reason.c_str());
  };
  if (!a.quiet) {
    o.retry.on_wait = [](double seconds, const std::string& reason) {
      std::fprintf(stderr, "tessera: %s, retrying in %.0f s\n", reason.c_str(), seconds);
    };
    o.on_file = [](const ingest::FolderFile& f) {
      std::fprintf(stderr, "%s\n", f.ToText().c_str());
    };
  }
  std::set<std::string> folders;  // their runs count files, not pages
  if (auto all = sources::SourceStore((*store)->db()).List(); all.ok()) {
    for (const auto& c : *all) {
      if (c.kind == sources::SourceKind::kFolder) folders.insert(c.name);
    }
  }
  auto runs = sources::RunSources(**store, *key, a.names, o);
  if (!runs.ok()) return Fail(runs.status());
  if (runs->empty() && !a.quiet) {
    std::fprintf(stderr,
                 "No sources. Add one with `tessera source add shopify|woocommerce|folder ...`.\n");
  }
  if (total_rejects > shown) {
    std::fprintf(stderr, "tessera: ... and %llu more rejected records\n",
                 static_cast<unsigned long long>(total_rejects - shown));
  }
  int rc = 0;
  uint64_t stored = 0;
  for (const auto& r : *runs) {
    stored += r.run.orders_stored;
    if (!r.status.ok()) {
      rc = std::max(rc, Fail(r.status));
      continue;
    }
    // A refused file is out of the way (failed/, with its note), but a person has to look at
    // it: said on stderr whatever --quiet, and the exit status is 1.
    if (r.run.outcome == "refused") {
      std::fprintf(stderr, "tessera: source '%s': %s\n", r.run.source.c_str(), r.run.error.c_str());
      rc = std::max(rc, 1);
    }
    if (!a.quiet && folders.contains(r.run.source)) {
      std::fprintf(stderr,
                   "%s: %llu files loaded, %llu refused, %llu waiting; %llu orders read, %llu "
                   "stored, %llu rejected\n",
                   r.run.source.c_str(), static_cast<unsigned long long>(r.run.files_loaded),
                   static_cast<unsigned long long>(r.run.files_refused),
                   static_cast<unsigned long long>(r.run.files_waiting),
                   static_cast<unsigned long long>(r.run.orders_seen),
                   static_cast<unsigned long long>(r.run.orders_stored),
                   static_cast<unsigned long long>(r.run.rejects));
    } else if (!a.quiet) {
      std::fprintf(stderr, "%s: %llu pages, %llu orders read, %llu stored, %llu rejected\n",
                   r.run.source.c_str(), static_cast<unsigned long long>(r.run.pages),
                   static_cast<unsigned long long>(r.run.orders_seen),
                   static_cast<unsigned long long>(r.run.orders_stored),
                   static_cast<unsigned long long>(r.run.rejects));
    }
  }
  if (stored > 0) UpdateAudienceIndex(**store, a.store.store, a.quiet);
  return rc;
}

int RunSourceRemove(const StoreArgs& sa, const std::string& name) {
  auto store = server::OpenStore(sa.store, /*create=*/false);
  if (!store.ok()) return Fail(store.status());
  auto removed = sources::SourceStore((*store)->db()).Remove(name);
  if (!removed.ok()) return Fail(removed.status());
  if (!*removed)
    return Fail(NotFoundError("no source named '{}' (see `tessera source list`)", name));
  std::fprintf(stderr, "Removed source '%s' (its orders stay in the store).\n", name.c_str());
  return 0;
}

void AddWebhookOptions(CLI::App* cmd, SourceAddArgs* a) {
  auto* env = cmd->add_option("--webhook-secret-env", a->webhook_env,
                              "Environment variable holding the webhook signing secret (for "
                              "POST /api/v1/sources/NAME/webhook in `tessera serve`)");
  auto* file = cmd->add_option("--webhook-secret-file", a->webhook_file,
                               "File holding the webhook signing secret");
  env->excludes(file);
}

}  // namespace

void AddSourceCommands(CLI::App& app, int* rc) {
  auto* source = app.add_subcommand(
      "source",
      "Shops whose orders Tessera pulls from their APIs (Shopify, WooCommerce) and folders whose "
      "export files it loads");
  source->require_subcommand(1);
  source->footer(
      "Examples:\n"
      "  export SHOPIFY_TOKEN=shpat_...\n"
      "  tessera source add shopify --name shop --shop-url https://my-shop.myshopify.com "
      "--token-env SHOPIFY_TOKEN\n"
      "  tessera source add woocommerce --name wc --url https://shop.example.com --key-env "
      "WC_KEY --secret-env WC_SECRET\n"
      "  tessera source add folder --name exports --dir /srv/exports\n"
      "  tessera source run              # pulls every source's new and changed orders\n"
      "  tessera source list             # sources and their last runs\n"
      "The store keeps where the credentials are (a variable's name, a file's path), never "
      "them (docs/ingest.md).");

  auto* add = source->add_subcommand("add", "Add a source");
  add->require_subcommand(1);
  static SourceAddArgs shopify_args, woo_args;
  auto* shopify = add->add_subcommand("shopify", "A Shopify shop (Admin REST API)");
  shopify->add_option("--name", shopify_args.name, "The source's name")->required();
  shopify->add_option("--shop-url", shopify_args.url, "https://SHOP.myshopify.com")->required();
  auto* token_env =
      shopify->add_option("--token-env", shopify_args.token_env,
                          "Environment variable holding the Admin API access token (read_orders)");
  auto* token_file =
      shopify->add_option("--token-file", shopify_args.token_file, "File holding the token");
  token_env->excludes(token_file);
  AddWebhookOptions(shopify, &shopify_args);
  AddStoreOptions(shopify, &shopify_args.store, false);
  shopify->callback([rc] { *rc = RunSourceAdd(sources::SourceKind::kShopify, shopify_args); });

  auto* woo = add->add_subcommand("woocommerce", "A WooCommerce shop (REST API v3)");
  woo->add_option("--name", woo_args.name, "The source's name")->required();
  woo->add_option("--url", woo_args.url, "The site's URL, https://shop.example.com")->required();
  auto* key_env = woo->add_option("--key-env", woo_args.key_env,
                                  "Environment variable holding the consumer key (ck_...)");
  auto* secret_env = woo->add_option("--secret-env", woo_args.secret_env,
                                     "Environment variable holding the consumer secret (cs_...)");
  auto* cred_file =
      woo->add_option("--credentials-file", woo_args.credentials_file,
                      "File holding KEY:SECRET (or the key and the secret on two lines)");
  cred_file->excludes(key_env)->excludes(secret_env);
  AddWebhookOptions(woo, &woo_args);
  AddStoreOptions(woo, &woo_args.store, false);
  woo->callback([rc] { *rc = RunSourceAdd(sources::SourceKind::kWooCommerce, woo_args); });

  static SourceAddArgs folder_args;
  auto* folder = add->add_subcommand(
      "folder",
      "A watched folder: each settled file loaded once, then moved to loaded/ (or, refused, to "
      "failed/ with a note)");
  folder->add_option("--name", folder_args.name, "The source's name")->required();
  folder->add_option("--dir", folder_args.dir, "The folder")->required();
  folder->add_option("--mapping", folder_args.mapping,
                     "A preset's name or a mapping file for every file (default: each file's "
                     "header picks its preset)");
  folder
      ->add_option("--settle", folder_args.settle_seconds,
                   "Seconds a file must rest unchanged before it is loaded")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  AddStoreOptions(folder, &folder_args.store, false);
  folder->callback([rc] { *rc = RunSourceAdd(sources::SourceKind::kFolder, folder_args); });

  static StoreArgs list_args;
  static std::string list_format = "table";
  static size_t list_runs = 1;
  auto* list = source->add_subcommand("list", "List the sources and their last runs");
  AddStoreOptions(list, &list_args, false);
  list->add_option("--format", list_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  list->add_option("--runs", list_runs, "Runs shown per source, newest first")
      ->capture_default_str();
  list->callback([rc] { *rc = RunSourceList(list_args, list_format, list_runs); });

  static SourceRunArgs run_args;
  auto* run = source->add_subcommand(
      "run",
      "Pull the orders of every source (or of those named) that changed since the last run; load "
      "a folder's settled files");
  run->add_option("names", run_args.names, "Sources to run (default: all)");
  AddStoreOptions(run, &run_args.store, true);
  run->add_option("--page-size", run_args.page_size,
                  "Orders per request (default: the API's maximum, 250 or 100)");
  run->add_option("--max-attempts", run_args.max_attempts,
                  "Attempts per request on HTTP 429, 5xx or a failed connection")
      ->capture_default_str();
  run->add_flag("--quiet,-q", run_args.quiet, "Print errors only");
  run->callback([rc] { *rc = RunSourceRun(run_args); });

  static StoreArgs remove_args;
  static std::string remove_name;
  auto* remove = source->add_subcommand("remove", "Remove a source (its orders stay)");
  remove->add_option("name", remove_name, "The source")->required();
  AddStoreOptions(remove, &remove_args, false);
  remove->callback([rc] { *rc = RunSourceRemove(remove_args, remove_name); });
}

}  // namespace tessera
