#include "tessera/store/store.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "store/backends.h"

namespace tessera::store {

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& location, bool create) {
  if (internal::IsPostgresLocation(location)) {
    return internal::OpenPostgresStore(location, create);
  }
  return internal::OpenSqliteStore(location, create);
}

StatusOr<std::vector<privacy::Uuid>> Store::CustomerPseudonyms() {
  std::vector<privacy::Uuid> out;
  TESSERA_RETURN_IF_ERROR(ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
    if (i >= out.size()) out.resize(i + 1);
    out[i] = u;
  }));
  return out;
}

StatusOr<Store::CustomerRefs> Store::CustomersForRows() {
  CustomerRefs refs;
  if (db().dialect() == Dialect::kPostgres) {
    TESSERA_ASSIGN_OR_RETURN(refs.pseudonyms, CustomerPseudonyms());
    refs.count = static_cast<uint32_t>(refs.pseudonyms.size());
  } else {
    TESSERA_ASSIGN_OR_RETURN(refs.count, CustomerCount());
  }
  return refs;
}

Status Store::BindKey(const std::string& fingerprint) {
  TESSERA_ASSIGN_OR_RETURN(auto current, KeyFingerprint());
  if (current) {
    if (*current == fingerprint) return OkStatus();
    return FailedPreconditionError(
        "this store was written with another key (store's key fingerprint {}, this key's {}); "
        "use the data owner's key that created the store (--key or TESSERA_KEY)",
        *current, fingerprint);
  }
  // ON CONFLICT DO NOTHING and a re-read: two first loads racing bind one key, and the loser
  // is told so.
  TESSERA_RETURN_IF_ERROR(
      db().Execute(fmt::format("INSERT INTO {}(key, value) VALUES ('key_fingerprint', $1) ON "
                               "CONFLICT (key) DO NOTHING",
                               internal::MetaTable(db())),
                   {fingerprint})
          .status());
  TESSERA_ASSIGN_OR_RETURN(auto bound, KeyFingerprint());
  if (bound && *bound != fingerprint) return BindKey(fingerprint);
  return OkStatus();
}

StatusOr<std::optional<std::string>> Store::KeyFingerprint() {
  return internal::GetMeta(db(), "key_fingerprint");
}

StatusOr<int64_t> Store::BeginLoad() {
  TESSERA_ASSIGN_OR_RETURN(auto id, db().QueryInt("INSERT INTO loads(started_at) VALUES (" +
                                                  db().NowSql() + ") RETURNING load_id"));
  if (!id) return InternalError("{}: a new load got no id", db().Describe());
  return *id;
}

Status Store::FinishLoad(int64_t load_id, const std::string& summary_json) {
  return db()
      .Execute(
          "UPDATE loads SET finished_at = " + db().NowSql() + ", summary = $1 WHERE load_id = $2",
          {summary_json, load_id})
      .status();
}

StatusOr<std::vector<LoadRecord>> Store::Loads() {
  std::vector<LoadRecord> out;
  TESSERA_RETURN_IF_ERROR(
      db().Query("SELECT load_id, " + db().IsoTimestampSql("started_at") + ", " +
                     db().IsoTimestampSql("finished_at") + ", summary FROM loads ORDER BY load_id",
                 {}, [&](const SqlRow& row) {
                   out.push_back({row.Int(0), row.Text(1), row.Text(2), row.Text(3)});
                   return OkStatus();
                 }));
  return out;
}

Status Store::AddLoadRejects(int64_t load_id, const std::vector<io::Reject>& rejects) {
  if (rejects.empty()) return OkStatus();
  static constexpr SqlColumn kColumns[] = {
      {"load_id", SqlType::kInt64},    {"seq", SqlType::kInt32},  {"file", SqlType::kText},
      {"line", SqlType::kInt64},       {"col", SqlType::kInt32},  {"column_name", SqlType::kText},
      {"reason_code", SqlType::kText}, {"reason", SqlType::kText}};
  return db().Transaction([&]() -> Status {
    TESSERA_ASSIGN_OR_RETURN(
        auto next, db().QueryInt("SELECT COALESCE(max(seq) + 1, 0) FROM load_rejects WHERE "
                                 "load_id = $1",
                                 {load_id}));
    const int64_t first = next.value_or(0);
    return db().Insert("load_rejects", kColumns, rejects.size(), [&](size_t i, SqlRowWriter& w) {
      const io::Reject& r = rejects[i];
      w.Int(load_id);
      w.Int(first + static_cast<int64_t>(i));
      w.Text(r.file);
      w.Int(static_cast<int64_t>(r.line));
      w.Int(r.column);
      w.Text(r.column_name);
      w.Text(r.reason_code);
      w.Text(r.reason);
    });
  });
}

StatusOr<std::vector<io::Reject>> Store::LoadRejects(int64_t load_id) {
  TESSERA_ASSIGN_OR_RETURN(
      auto found, db().QueryInt("SELECT count(*) FROM loads WHERE load_id = $1", {load_id}));
  if (found.value_or(0) != 1) return NotFoundError("{} holds no load {}", db().Describe(), load_id);
  std::vector<io::Reject> out;
  TESSERA_RETURN_IF_ERROR(
      db().Query("SELECT file, line, col, column_name, reason_code, reason FROM load_rejects "
                 "WHERE load_id = $1 ORDER BY seq",
                 {load_id}, [&](const SqlRow& row) {
                   io::Reject r;
                   r.file = row.Text(0);
                   r.line = static_cast<uint64_t>(row.Int(1));
                   r.column = static_cast<uint32_t>(row.Int(2));
                   r.column_name = row.Text(3);
                   r.reason_code = row.Text(4);
                   r.reason = row.Text(5);
                   out.push_back(std::move(r));
                   return OkStatus();
                 }));
  return out;
}

Status Store::ScanMatchTokens(
    const std::function<void(uint32_t, privacy::IdentifierKind,
                             std::span<const uint8_t, kMatchTokenSize>)>& fn) {
  return db().Query(
      "SELECT customer_idx, kind, token FROM customer_match_tokens ORDER BY customer_idx, kind, "
      "token",
      {}, [&](const SqlRow& row) -> Status {
        const auto kind = privacy::IdentifierKindOfByte(static_cast<uint8_t>(row.Int(1)));
        const std::string token = row.Bytes(2);
        if (!kind || token.size() != kMatchTokenSize) {
          return DataLossError("{}: a match token of customer {} is damaged", db().Describe(),
                               row.Int(0));
        }
        fn(static_cast<uint32_t>(row.Int(0)), *kind,
           std::span<const uint8_t, kMatchTokenSize>(reinterpret_cast<const uint8_t*>(token.data()),
                                                     kMatchTokenSize));
        return OkStatus();
      });
}

Status Store::ScanMatchTokenKinds(
    const std::function<void(uint32_t, privacy::IdentifierKind)>& fn) {
  return db().Query("SELECT DISTINCT customer_idx, kind FROM customer_match_tokens", {},
                    [&](const SqlRow& row) -> Status {
                      const auto kind =
                          privacy::IdentifierKindOfByte(static_cast<uint8_t>(row.Int(1)));
                      if (!kind) {
                        return DataLossError("{}: a match token of customer {} has an unknown kind",
                                             db().Describe(), row.Int(0));
                      }
                      fn(static_cast<uint32_t>(row.Int(0)), *kind);
                      return OkStatus();
                    });
}

namespace {

// The orders stored in several versions, by the first 16 bytes of their tokens (the SIV, a
// pseudorandom function of the order id: privacy/order_token.h), and how many of each a scan
// has passed: every occurrence but the last (the newest, since scans go in load order) is left
// out.
class SupersededOrders {
 public:
  void Add(std::string_view token, uint32_t versions) {
    if (token.size() >= kKeySize) counts_[KeyOf(token)].versions = versions;
  }
  bool empty() const { return counts_.empty(); }
  // Whether the order at this occurrence of `token` is superseded by a later one.
  bool Superseded(std::string_view token) {
    if (token.size() < kKeySize) return false;
    const auto it = counts_.find(KeyOf(token));
    if (it == counts_.end()) return false;
    return ++it->second.seen < it->second.versions;
  }

 private:
  static constexpr size_t kKeySize = 16;
  using Key = std::pair<uint64_t, uint64_t>;
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.first); }
  };
  struct Count {
    uint32_t versions = 0, seen = 0;
  };
  static Key KeyOf(std::string_view token) {
    Key k;
    std::memcpy(&k.first, token.data(), 8);
    std::memcpy(&k.second, token.data() + 8, 8);
    return k;
  }
  std::unordered_map<Key, Count, KeyHash> counts_;
};

// Copies order `i` of `from` to the end of `to`: the core, and each other group that `from`
// holds (a scan fills only what it was asked for).
void AppendOrder(const OrderColumns& from, size_t i, OrderColumns* to) {
  const size_t n = from.size();
  to->customer.push_back(from.customer[i]);
  to->ordered_at.push_back(from.ordered_at[i]);
  to->amount_minor.push_back(from.amount_minor[i]);
  to->kind.push_back(from.kind[i]);
  to->currency.push_back(from.currency[i]);
  if (from.store.size() == n) to->store.push_back(from.store[i]);
  if (from.region.size() == n) to->region.push_back(from.region[i]);
  if (from.channel.size() == n) to->channel.push_back(from.channel[i]);
  if (from.token_offsets.size() == n + 1) {
    to->token_bytes.append(from.token(i));
    to->token_offsets.push_back(static_cast<uint32_t>(to->token_bytes.size()));
  }
  if (from.item_offsets.size() == n + 1) {
    const size_t first = from.item_offsets[i], last = from.item_offsets[i + 1];
    const auto copy = [&](const auto& src, auto& dst) {
      if (src.size() >= last) dst.insert(dst.end(), src.begin() + first, src.begin() + last);
    };
    copy(from.item_category, to->item_category);
    copy(from.item_sku, to->item_sku);
    copy(from.item_quantity_milli, to->item_quantity_milli);
    copy(from.item_amount_micro, to->item_amount_micro);
    to->item_offsets.push_back(static_cast<uint32_t>(to->item_category.size()));
  }
}

constexpr const char* kSupersededSql =
    "SELECT order_token, versions FROM order_versions WHERE versions > 1";

}  // namespace

Status Store::ScanOrderFields(uint32_t fields,
                              const std::function<Status(const OrderColumns&)>& fn) {
  SupersededOrders superseded;
  const auto begin = [&]() -> StatusOr<uint32_t> {
    TESSERA_RETURN_IF_ERROR(db().Query(kSupersededSql, {}, [&](const SqlRow& row) {
      superseded.Add(row.Bytes(0), static_cast<uint32_t>(row.Int(1)));
      return OkStatus();
    }));
    return superseded.empty() ? fields : fields | kOrderTokens;
  };
  OrderColumns current;
  return ScanOrderChunks(begin, [&](const OrderColumns& chunk) -> Status {
    if (superseded.empty()) return fn(chunk);
    // Most chunks hold no superseded order: they pass as they are.
    size_t first = chunk.size();
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (superseded.Superseded(chunk.token(i))) {
        first = i;
        break;
      }
    }
    if (first == chunk.size()) return fn(chunk);
    current.Clear();
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (i == first || (i > first && superseded.Superseded(chunk.token(i)))) continue;
      AppendOrder(chunk, i, &current);
    }
    return current.size() > 0 ? fn(current) : OkStatus();
  });
}

StatusOr<std::vector<OrderVersion>> Store::OrderVersions() {
  std::vector<OrderVersion> out;
  TESSERA_RETURN_IF_ERROR(db().Query(
      "SELECT order_token, versions, updated_at FROM order_versions", {}, [&](const SqlRow& row) {
        out.push_back({row.Bytes(0), static_cast<uint32_t>(row.Int(1)), row.Int(2)});
        return OkStatus();
      }));
  return out;
}

StatusOr<StoreStats> Store::Stats() {
  TESSERA_ASSIGN_OR_RETURN(StoreStats st, TableStats());
  TESSERA_ASSIGN_OR_RETURN(
      auto superseded,
      db().QueryInt(
          "SELECT COALESCE(SUM(versions - 1), 0) FROM order_versions WHERE versions > 1"));
  const auto older = static_cast<uint64_t>(superseded.value_or(0));
  st.orders = st.orders > older ? st.orders - older : 0;
  return st;
}

namespace internal {

Status WriteOrderVersions(Database& db, const std::vector<OrderVersion>& versions) {
  for (const OrderVersion& v : versions) {
    TESSERA_RETURN_IF_ERROR(
        db.Execute("INSERT INTO order_versions(order_token, versions, updated_at) VALUES ($1, $2, "
                   "$3) ON CONFLICT (order_token) DO UPDATE SET versions = excluded.versions, "
                   "updated_at = excluded.updated_at",
                   {SqlValue::Bytes(v.token), static_cast<int64_t>(v.versions), v.updated_at})
            .status());
  }
  return OkStatus();
}

}  // namespace internal

const Schema& Store::OrderSchema() { return internal::OrderSchema(); }

std::string DefaultStoreLocation() {
  if (const char* env = std::getenv("TESSERA_STORE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/tessera/store.db";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/share/tessera/store.db";
}

}  // namespace tessera::store
