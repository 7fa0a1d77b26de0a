#include "tessera/analytics/profiles.h"

#include <charconv>
#include <map>

#include "tessera/common/civil_time.h"
#include "tessera/common/money.h"
#include "tessera/io/order_reader.h"

namespace tessera::analytics {

StatusOr<Window> Window::Parse(std::string_view text) {
  auto d = Duration::Parse(text);
  if (!d.ok()) return d.status().WithContext("window");
  return Window(*d);
}

StatusOr<ProfileSet> ComputeProfiles(store::Store& store, const ProfileOptions& options) {
  ProfileSet set;
  set.as_of_day = options.as_of_day;
  set.window = options.window;
  set.start_day = options.window.StartDay(options.as_of_day);
  TESSERA_RETURN_IF_ERROR(store.ScanCustomers([&](uint32_t idx, const privacy::Uuid& u) {
    if (set.uuids.size() <= idx) set.uuids.resize(idx + 1);
    set.uuids[idx] = u;
  }));
  set.customers_in_store = set.uuids.size();

  std::vector<std::string> currencies;  // by dictionary id
  TESSERA_RETURN_IF_ERROR(
      store.ScanDictionaries([&](store::DictKind kind, uint32_t id, const std::string& v) {
        if (kind != store::DictKind::kCurrency) return;
        if (currencies.size() <= id) currencies.resize(id + 1);
        currencies[id] = v;
      }));
  uint32_t chosen = 0;  // currency id, 0 = not yet known
  if (!options.currency.empty()) {
    for (uint32_t i = 1; i < currencies.size(); ++i) {
      if (currencies[i] == options.currency) chosen = i;
    }
    if (chosen == 0) return InvalidArgumentError("the store has no orders in {}", options.currency);
  }

  const size_t n = set.uuids.size();
  std::vector<uint32_t> orders(n, 0);
  std::vector<int64_t> revenue(n, 0);
  std::vector<int32_t> first(n, INT32_MAX), last(n, INT32_MIN);
  std::map<uint32_t, uint64_t> other_currencies;  // id -> orders in the window
  const int64_t start = set.start_day, end = set.as_of_day;

  TESSERA_RETURN_IF_ERROR(
      store.ScanOrderFields(store::kOrderCore, [&](const store::OrderColumns& c) -> Status {
        for (size_t i = 0; i < c.size(); ++i) {
          const uint32_t cust = c.customer[i];
          if (cust == store::kAnonymousCustomer) continue;
          const auto kind = static_cast<io::OrderKind>(c.kind[i]);
          if (kind == io::OrderKind::kVoid) continue;
          const int64_t day = DayOfTimestamp(c.ordered_at[i]);
          if (kind == io::OrderKind::kPurchase) {
            if (set.store_last_day < set.store_first_day) {
              set.store_first_day = set.store_last_day = day;
            } else {
              set.store_first_day = std::min(set.store_first_day, day);
              set.store_last_day = std::max(set.store_last_day, day);
            }
          }
          if (day < start || day > end) continue;
          if (c.currency[i] != chosen) {
            if (chosen == 0) {
              chosen = c.currency[i];
            } else {
              ++other_currencies[c.currency[i]];
              continue;
            }
          }
          if (cust >= n) return DataLossError("an order refers to customer {} of {}", cust, n);
          revenue[cust] += c.amount_minor[i];
          if (kind == io::OrderKind::kPurchase) {
            ++orders[cust];
            first[cust] = std::min(first[cust], static_cast<int32_t>(day));
            last[cust] = std::max(last[cust], static_cast<int32_t>(day));
          }
        }
        return OkStatus();
      }));
  if (!other_currencies.empty() && options.currency.empty()) {
    std::string list = currencies[chosen];
    for (const auto& [id, count] : other_currencies) list += ", " + currencies[id];
    return InvalidArgumentError(
        "the window holds orders in several currencies ({}); choose one with --currency", list);
  }
  set.currency = chosen < currencies.size() ? currencies[chosen] : options.currency;
  set.currency_exponent = CurrencyExponent(set.currency);
  for (uint32_t c = 0; c < n; ++c) {
    if (orders[c] == 0) continue;
    Profile p;
    p.customer = c;
    p.order_count = orders[c];
    p.revenue_minor = revenue[c];
    p.first_day = first[c];
    p.last_day = last[c];
    p.recency_days = static_cast<int32_t>(set.as_of_day - last[c]);
    set.profiles.push_back(p);
  }
  return set;
}

}  // namespace tessera::analytics
