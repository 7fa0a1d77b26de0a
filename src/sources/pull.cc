#include "tessera/sources/pull.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <unordered_map>

#include "sources/folder_source.h"
#include "sources/orders/shop_orders.h"
#include "sources/secrets.h"
#include "sources/shop_client.h"
#include "tessera/common/civil_time.h"
#include "tessera/ingest/loader.h"
#include "tessera/privacy/order_token.h"

namespace tessera::sources {
namespace {

using Json = nlohmann::json;

constexpr int kShopifyMaxPage = 250;
constexpr int kWooCommerceMaxPage = 100;
constexpr const char* kShopifyApiVersion = "2024-01";

std::string QueryEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// The target of rel="next" in a Link header (RFC 8288), as Shopify pages:
// <https://shop/admin/api/2024-01/orders.json?limit=250&page_info=abc>; rel="next".
std::optional<std::string> NextLink(std::string_view header) {
  size_t at = 0;
  while (at < header.size()) {
    const size_t open = header.find('<', at);
    if (open == std::string_view::npos) return std::nullopt;
    const size_t close = header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const size_t next = header.find('<', close);
    const std::string_view params = header.substr(close + 1, next - close - 1);
    if (params.find("rel=\"next\"") != std::string_view::npos ||
        params.find("rel=next") != std::string_view::npos) {
      return std::string(header.substr(open + 1, close - open - 1));
    }
    at = close + 1;
  }
  return std::nullopt;
}

// One run of one source: pages fetched, mapped, loaded and the cursor moved, one by one.
class Pull {
 public:
  Pull(store::Store& store, const privacy::OwnerKey& key, const SourceConfig& config,
       const RunOptions& options, SourceStore& sources, SourceRun& run, io::Mapping mapping)
      : store_(store),
        key_(key),
        config_(config),
        options_(options),
        sources_(sources),
        run_(run),
        mapping_(std::move(mapping)) {}

  Status Run() {
    TESSERA_ASSIGN_OR_RETURN(tokenizer_, privacy::OrderTokenizer::Create(key_));
    TESSERA_ASSIGN_OR_RETURN(cursor_, sources_.Cursor(config_.name));
    TESSERA_ASSIGN_OR_RETURN(client_, internal::ShopClient::Create(config_, options_));
    return config_.kind == SourceKind::kShopify ? RunShopify() : RunWooCommerce();
  }

 private:
  std::string Where(int page) const {
    return fmt::format("source '{}' page {}", config_.name, page);
  }

  Status RunShopify() {
    const int limit =
        options_.page_size > 0 ? std::min(options_.page_size, kShopifyMaxPage) : kShopifyMaxPage;
    const auto& url = client_->url();
    std::string target =
        fmt::format("{}/admin/api/{}/orders.json?status=any&limit={}&order={}", url.path,
                    kShopifyApiVersion, limit, QueryEncode("updated_at asc"));
    // updated_at_min is inclusive: orders of the cursor's second come again and are skipped by
    // their ids.
    if (cursor_.updated_at > 0) {
      target += "&updated_at_min=" + QueryEncode(FormatIsoTimestamp(cursor_.updated_at));
    }
    for (int page = 1;; ++page) {
      TESSERA_ASSIGN_OR_RETURN(internal::HttpAnswer answer, client_->Get(target, page));
      TESSERA_ASSIGN_OR_RETURN(const PageCounts counts, Page(page, answer.body));
      (void)counts;
      const auto next = NextLink(answer.Header("Link"));
      if (!next) return OkStatus();
      // The next page must be on the shop's own origin: the token goes with the request.
      if (!next->starts_with(url.origin + "/")) {
        return InvalidArgumentError(
            "{}: the next page's link leads away from the shop's URL ({}); not followed",
            Where(page), url.origin);
      }
      target = next->substr(url.origin.size());
    }
  }

  // WooCommerce pages by number, and a number counts from the start of a query whose orders
  // may change while it is read (an order modified meanwhile moves to the end and shifts the
  // rest back by one, so that the next page would miss an order). So every page asks again
  // from the cursor (modified_after, one second early since it is exclusive; orders already
  // committed are skipped by time and id). A full page that leaves the cursor's second as it
  // was is a second with more orders than a page (a bulk action), whose orders the shop may
  // list in any order at each request (equal sort keys): that second is read by id
  // (ReadSecondById), then the query goes on after it.
  Status RunWooCommerce() {
    const int per_page = WooPerPage();
    std::optional<int64_t> read_whole;  // a second read by id: the next query starts after it
    for (int page = 1;; ++page) {
      const int64_t query_time = cursor_.updated_at;
      std::string target = WooTarget(per_page, 1, "modified");
      if (query_time > 0) {
        target +=
            "&modified_after=" + WooTime(read_whole == query_time ? query_time : query_time - 1);
      }
      TESSERA_ASSIGN_OR_RETURN(internal::HttpAnswer answer, client_->Get(target, page));
      TESSERA_ASSIGN_OR_RETURN(const PageCounts counts, Page(page, answer.body));
      if (counts.orders < static_cast<size_t>(per_page) || LastWooPage(answer, 1)) {
        return OkStatus();
      }
      if (cursor_.updated_at == query_time && read_whole != query_time) {
        TESSERA_RETURN_IF_ERROR(ReadSecondById(query_time, per_page, &page));
        read_whole = query_time;
      }
    }
  }

  // The orders of one modification second, by id (unique, so pages by number are stable),
  // pass after pass until a pass finds no order not yet committed: an order of that second
  // modified meanwhile leaves it (a later query reads it) and may shift the others back by one
  // across a page's end, which the next pass then reads.
  Status ReadSecondById(int64_t second, int per_page, int* page) {
    for (;;) {
      size_t fresh = 0;
      for (int number = 1;; ++number) {
        std::string target = WooTarget(per_page, number, "id");
        target += "&modified_after=" + WooTime(second - 1);
        target += "&modified_before=" + WooTime(second + 1);
        ++*page;
        TESSERA_ASSIGN_OR_RETURN(internal::HttpAnswer answer, client_->Get(target, *page));
        TESSERA_ASSIGN_OR_RETURN(const PageCounts counts, Page(*page, answer.body));
        fresh += counts.fresh;
        if (counts.orders < static_cast<size_t>(per_page) || LastWooPage(answer, number)) break;
      }
      if (fresh == 0) return OkStatus();
    }
  }

  int WooPerPage() const {
    return options_.page_size > 0 ? std::min(options_.page_size, kWooCommerceMaxPage)
                                  : kWooCommerceMaxPage;
  }
  std::string WooTarget(int per_page, int number, std::string_view orderby) const {
    return fmt::format(
        "{}/wp-json/wc/v3/orders?per_page={}&page={}&orderby={}&order=asc&dates_are_gmt=true",
        client_->url().path, per_page, number, orderby);
  }
  // A query's time: with dates_are_gmt the time is UTC, written without the "Z".
  static std::string WooTime(int64_t unix_seconds) {
    std::string t = FormatIsoTimestamp(unix_seconds);
    t.pop_back();
    return QueryEncode(t);
  }
  // Whether X-WP-TotalPages says page `number` is the query's last.
  static bool LastWooPage(const internal::HttpAnswer& answer, int number) {
    const std::string total = answer.Header("X-WP-TotalPages");
    char* end = nullptr;
    const long total_pages = total.empty() ? -1 : std::strtol(total.c_str(), &end, 10);
    return total_pages >= 0 && end != nullptr && *end == '\0' && number >= total_pages;
  }

  struct PageCounts {
    size_t orders = 0;  // in the page
    size_t fresh = 0;   // not committed before (by the cursor)
  };

  // Maps, loads and commits one page, then moves the cursor.
  StatusOr<PageCounts> Page(int page, std::string_view body) {
    auto orders = internal::ParseOrders(config_.kind, body, /*single=*/false);
    if (!orders.ok()) return orders.status().WithContext(Where(page));
    auto timestamps = io::TimestampParser::Create("", "UTC");
    if (!timestamps.ok()) return timestamps.status();
    PageCounts counts;
    counts.orders = orders->size();
    std::string jsonl, records;
    std::unordered_map<std::string, int64_t> versions;  // by order token
    SourceCursor next;
    for (size_t i = 0; i < orders->size(); ++i) {
      records.clear();
      auto stamp =
          internal::AppendOrderRecords(config_.kind, (*orders)[i], i + 1, *timestamps, &records);
      if (!stamp.ok()) {
        // One order the mapping cannot read is a rejected row, as a bad line of a file is: the
        // page's other orders load and the cursor moves on. (A body that is no order list at
        // all failed above, with nothing of the page written.)
        ++run_.rejects;
        if (options_.on_reject) {
          options_.on_reject(io::Reject{fmt::format("source {} page {}", config_.name, page), i + 1,
                                        0, "", "bad_order", stamp.status().message()});
        }
        continue;
      }
      if (stamp->updated_at > next.updated_at) {
        next.updated_at = stamp->updated_at;
        next.ids.clear();
      }
      // The cursor keeps the shop's order ids as the orders table does: as order tokens
      // (AES-SIV under the owner's key), never as they are.
      auto token = tokenizer_->Encrypt(stamp->id);
      if (!token.ok()) return token.status().WithContext(Where(page));
      const std::string id = privacy::HexEncode(*token);
      if (stamp->updated_at == next.updated_at) next.ids.push_back(id);
      const bool committed =
          stamp->updated_at < cursor_.updated_at ||
          (stamp->updated_at == cursor_.updated_at &&
           std::find(cursor_.ids.begin(), cursor_.ids.end(), id) != cursor_.ids.end());
      if (committed) continue;
      ++counts.fresh;
      jsonl += records;
      // The version of the order: the loader stores it in place of an older one. (An order id
      // that cannot be a token is the loader's to reject.)
      if (auto order_token = tokenizer_->Encrypt(stamp->order_id); order_token.ok()) {
        int64_t& version = versions[*order_token];
        version = std::max(version, stamp->updated_at);
      }
    }
    run_.orders_seen += counts.fresh;
    if (!jsonl.empty()) TESSERA_RETURN_IF_ERROR(Load(page, jsonl, std::move(versions)));
    if (options_.after_page_loaded) {
      TESSERA_RETURN_IF_ERROR(options_.after_page_loaded(page));
    }
    if (next.updated_at > 0) {
      TESSERA_RETURN_IF_ERROR(sources_.AdvanceCursor(config_.name, next).WithContext(Where(page)));
      TESSERA_ASSIGN_OR_RETURN(cursor_, sources_.Cursor(config_.name));
    }
    ++run_.pages;
    if (options_.on_page) options_.on_page(run_);
    return counts;
  }

  // Orders of a shop change after they are stored (refunds, cancellations, edits): the page's
  // orders replace the versions stored, when they are newer (`versions`, by order token).
  Status Load(int page, const std::string& jsonl,
              std::unordered_map<std::string, int64_t> versions) {
    const std::string label = fmt::format("source {} page {}", config_.name, page);
    auto file = internal::MemoryFile::Create(jsonl);
    if (!file.ok()) return file.status().WithContext(Where(page));
    ingest::LoadOptions lo;
    lo.mapping = mapping_;
    lo.match_tokens = options_.match_tokens;
    lo.file_labels = {label};
    lo.on_reject = options_.on_reject;
    lo.replace_stored_orders = true;
    lo.order_versions = std::move(versions);
    const std::string path = file->path();
    auto summary = ingest::LoadOrders(store_, key_, {path}, lo);
    if (!summary.ok()) {
      std::string message = summary.status().message();
      for (size_t at; (at = message.find(path)) != std::string::npos;) {
        message.replace(at, path.size(), label);
      }
      return Status(summary.status().code(), message).WithContext(Where(page));
    }
    run_.orders_stored += summary->orders_stored;
    run_.rejects += summary->rows_rejected;
    return OkStatus();
  }

  store::Store& store_;
  const privacy::OwnerKey& key_;
  const SourceConfig& config_;
  const RunOptions& options_;
  SourceStore& sources_;
  SourceRun& run_;
  io::Mapping mapping_;
  SourceCursor cursor_;
  std::optional<privacy::OrderTokenizer> tokenizer_;
  std::unique_ptr<internal::ShopClient> client_;
};

}  // namespace

StatusOr<io::Mapping> SourceMapping(SourceKind kind) {
  if (kind == SourceKind::kFolder) {
    return InvalidArgumentError("a folder source reads each file with its own mapping");
  }
  return io::ParseMapping(internal::MappingToml(kind),
                          kind == SourceKind::kShopify ? "shopify-api" : "woocommerce-api");
}

StatusOr<RunOutcome> RunSource(store::Store& store, const privacy::OwnerKey& key,
                               const std::string& name, const RunOptions& options) {
  SourceStore sources(store.db());
  TESSERA_ASSIGN_OR_RETURN(const SourceConfig config, sources.Get(name));
  io::Mapping mapping;
  if (config.kind != SourceKind::kFolder) {
    TESSERA_ASSIGN_OR_RETURN(mapping, SourceMapping(config.kind));
  }
  TESSERA_ASSIGN_OR_RETURN(const int64_t id, sources.BeginRun(name, "pull"));
  RunOutcome out;
  out.run.id = id;
  out.run.source = name;
  out.run.trigger = "pull";
  if (config.kind == SourceKind::kFolder) {
    out.status = internal::RunFolder(store, key, config, options, out.run);
  } else {
    out.status = Pull(store, key, config, options, sources, out.run, std::move(mapping)).Run();
  }
  if (!out.status.ok()) {
    out.run.outcome = "failed";
    out.run.error = out.status.message();
  } else {
    out.run.outcome = out.run.files_refused > 0 ? "refused" : "ok";
  }
  TESSERA_RETURN_IF_ERROR(sources.FinishRun(out.run));
  TESSERA_ASSIGN_OR_RETURN(const auto runs, sources.Runs(name, 1));
  if (!runs.empty() && runs.front().id == id) out.run = runs.front();
  return out;
}

StatusOr<std::vector<RunOutcome>> RunSources(store::Store& store, const privacy::OwnerKey& key,
                                             const std::vector<std::string>& names,
                                             const RunOptions& options) {
  SourceStore sources(store.db());
  std::vector<std::string> chosen = names;
  if (chosen.empty()) {
    TESSERA_ASSIGN_OR_RETURN(const auto all, sources.List());
    for (const auto& c : all) chosen.push_back(c.name);
  } else {
    for (const auto& n : chosen) TESSERA_RETURN_IF_ERROR(sources.Get(n).status());
  }
  std::vector<RunOutcome> out;
  for (const auto& n : chosen) {
    TESSERA_ASSIGN_OR_RETURN(RunOutcome o, RunSource(store, key, n, options));
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tessera::sources
