#include "tessera/store/store.h"

#include <fmt/format.h>

#include <cstdlib>

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
