#pragma once

// The store core on PostgreSQL: one connection (libpq) to a store's database, and the
// connection-level pieces that the PostgreSQL store (postgres_store.cc) shares with it:
// safe descriptions of locations, connecting with retries, error mapping, binary COPY.
// Internal to the store module.
//
// Privacy: connection strings may hold a password: it is never put in a message or a
// description (SafeLocation, Scrub).

#include <endian.h>
#include <libpq-fe.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tessera/privacy/pseudonymizer.h"
#include "tessera/store/database.h"

namespace tessera::store::internal {

// Advisory lock keys ("tessera" in ASCII, then a purpose byte). Advisory locks are per
// database, so two stores in two databases of one server never block each other.
constexpr int64_t kMigrationLockKey = 0x7465737365726101;
constexpr int64_t kWriterLockKey = 0x7465737365726102;
constexpr int64_t kOrderNumberLockKey = 0x7465737365726103;

// Transient failures (connection lost, server restarting, serialization failure, too many
// connections) are retried this many times, waiting kFirstBackoff, then twice as long each
// time up to kMaxBackoff: about 15 s in all, enough for a restart or a quick failover.
constexpr int kMaxAttempts = 12;
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);

// Type OIDs of array elements in binary COPY (pg_type.dat; fixed since PostgreSQL 7).
constexpr uint32_t kInt4Oid = 23;
constexpr uint32_t kInt8Oid = 20;

// Seconds between the Unix epoch and PostgreSQL's (2000-01-01), for binary timestamptz.
constexpr int64_t kPostgresEpoch = 946684800;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

// The parts of a connection string that may be printed.
struct SafeLocation {
  std::string host, port, dbname, user, password;
  std::string Describe() const {
    return fmt::format("database {} on {}:{}", dbname.empty() ? user : dbname,
                       host.empty() ? "localhost" : host, port.empty() ? "5432" : port);
  }
};

inline SafeLocation ParseLocation(const std::string& location) {
  SafeLocation out;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(location.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return out;
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view k = o->keyword;
    if (k == "host" || (k == "hostaddr" && out.host.empty())) out.host = o->val;
    if (k == "port") out.port = o->val;
    if (k == "dbname") out.dbname = o->val;
    if (k == "user") out.user = o->val;
    if (k == "password") out.password = o->val;
  }
  PQconninfoFree(opts);
  if (out.user.empty()) {
    if (const char* u = std::getenv("PGUSER")) out.user = u;
  }
  if (out.host.empty()) {
    if (const char* h = std::getenv("PGHOST")) out.host = h;
  }
  if (out.port.empty()) {
    if (const char* p = std::getenv("PGPORT")) out.port = p;
  }
  if (out.dbname.empty()) {
    if (const char* d = std::getenv("PGDATABASE")) out.dbname = d;
  }
  return out;
}

// A libpq message without the password, should the server or libpq ever echo it.
inline std::string Scrub(std::string message, const std::string& password) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (!password.empty()) {
    for (size_t at; (at = message.find(password)) != std::string::npos;) {
      message.replace(at, password.size(), "***");
    }
  }
  // libpq's multi-line messages ("...failed: X\n\tIs the server running...") on one line.
  std::string out;
  for (char c : message) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

inline void IgnoreNotice(void*, const char*) {}

// Whether a failed connection attempt may succeed when repeated: the server is starting,
// stopping or restarting (refused, socket missing, "starting up", "shutting down", in
// recovery), or has no free connection slot. Never a wrong password or a missing database.
inline bool TransientConnectFailure(const std::string& msg) {
  for (const char* m :
       {"Connection refused", "No such file or directory", "starting up", "shutting down",
        "in recovery mode", "too many clients", "remaining connection slots"}) {
    if (msg.find(m) != std::string::npos) return true;
  }
  return false;
}

// Opening a store retries a transient failure for about 5 s (a typo in the host should not
// keep the user waiting as long as a batch in the middle of a load may).
constexpr int kConnectAttempts = 6;
// A server on this machine, over a Unix socket: the kernel wakes a blocked writer only once
// the socket is three-quarters drained, and with the default send buffer (208 KiB) that is
// less than a millisecond of COPY work for the backend, so it often ran dry waiting for this
// process to be scheduled (BENCHMARKS.md). A larger buffer (the kernel caps it at
// net.core.wmem_max) keeps it fed. TCP sizes its buffers itself; setting one would stop that.
inline void WidenUnixSocketBuffer(PGconn* conn) {
  const int fd = PQsocket(conn);
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.ss_family != AF_UNIX) {
    return;
  }
  const int size = 4 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

inline void SetUpConnection(PGconn* conn) {
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  WidenUnixSocketBuffer(conn);
}

inline StatusOr<Conn> Connect(const std::string& location, const SafeLocation& safe) {
  Conn conn(PQconnectdb(location.c_str()));
  auto backoff = kFirstBackoff;
  int attempt = 1;
  for (; conn != nullptr && PQstatus(conn.get()) != CONNECTION_OK && attempt < kConnectAttempts &&
         TransientConnectFailure(PQerrorMessage(conn.get()));
       ++attempt) {
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
    conn.reset(PQconnectdb(location.c_str()));
  }
  if (conn == nullptr) return UnavailableError("cannot connect to PostgreSQL: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    const std::string msg = Scrub(PQerrorMessage(conn.get()), safe.password);
    if (msg.find("does not exist") != std::string::npos &&
        msg.find("database") != std::string::npos) {
      return NotFoundError(
          "PostgreSQL {} does not exist; create it first (createdb, or CREATE "
          "DATABASE; see docs/deployment.md): {}",
          safe.Describe(), msg);
    }
    return UnavailableError("cannot connect to PostgreSQL {}{}: {}", safe.Describe(),
                            attempt > 1 ? fmt::format(" (tried {} times)", attempt) : "", msg);
  }
  SetUpConnection(conn.get());
  return conn;
}

// Big-endian field access for binary results and COPY.
inline int64_t GetInt64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return static_cast<int64_t>(be64toh(v));
}
inline int32_t GetInt32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return static_cast<int32_t>(be32toh(v));
}
inline int16_t GetInt16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return static_cast<int16_t>(be16toh(v));
}

inline double GetFloat64(const char* p) {
  const uint64_t bits = static_cast<uint64_t>(GetInt64(p));
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

// Appends the elements of a one-dimensional binary integer[] / bigint[] without NULLs to
// `out`; false if `field` is not one.
template <typename T>
inline bool ReadIntArray(std::string_view field, std::vector<T>& out) {
  constexpr int32_t kSize = sizeof(T);
  if (field.size() < 12) return false;
  const int32_t dims = GetInt32(field.data());
  if (GetInt32(field.data() + 4) != 0) return false;  // holds NULLs
  if (dims == 0) return field.size() == 12;
  if (dims != 1 || field.size() < 20) return false;
  const int32_t n = GetInt32(field.data() + 12);
  if (n < 0 || field.size() != 20 + static_cast<size_t>(n) * (4 + kSize)) return false;
  const char* p = field.data() + 20;
  for (int32_t k = 0; k < n; ++k, p += 4 + kSize) {
    if (GetInt32(p) != kSize) return false;
    if constexpr (kSize == 4) {
      out.push_back(static_cast<T>(GetInt32(p + 4)));
    } else {
      out.push_back(static_cast<T>(GetInt64(p + 4)));
    }
  }
  return true;
}
inline bool ReadInt32Array(std::string_view field, std::vector<uint32_t>& out) {
  return ReadIntArray(field, out);
}
inline bool ReadInt64Array(std::string_view field, std::vector<int64_t>& out) {
  return ReadIntArray(field, out);
}

// Rows in PostgreSQL's binary COPY format, sent to the server in pieces as they fill up so
// that the server parses one piece while this process encodes the next.
class CopyRows {
 public:
  CopyRows() {
    Append("PGCOPY\n\377\r\n\0", 11);
    Put32(0);  // flags
    Put32(0);  // header extension length
  }
  CopyRows(const CopyRows&) = delete;
  CopyRows& operator=(const CopyRows&) = delete;

  void Row(int16_t fields) { Put16(static_cast<uint16_t>(fields)); }
  void Int16(int16_t v) {
    Put32(2);
    Put16(static_cast<uint16_t>(v));
  }
  void Int32(int32_t v) {
    Put32(4);
    Put32(static_cast<uint32_t>(v));
  }
  void Int64(int64_t v) {
    Put32(8);
    Put64(static_cast<uint64_t>(v));
  }
  void Bytes(std::string_view b) {
    Put32(static_cast<uint32_t>(b.size()));
    Append(b.data(), b.size());
  }
  void Uuid(const privacy::Uuid& u) {
    Put32(16);
    Append(u.bytes.data(), 16);
  }
  void Float64(double v) {
    if (std::isnan(v)) {
      Null();
      return;
    }
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    Put32(8);
    Put64(bits);
  }
  void Date(int64_t unix_day) { Int32(static_cast<int32_t>(unix_day - kPostgresEpoch / 86400)); }
  void Null() { Put32(0xffffffff); }
  // integer[] and bigint[]: one dimension (none when empty), no NULLs.
  void Int32Array(std::span<const uint32_t> v) {
    char* p = ArrayHeader(v.size(), kInt4Oid, 4);
    for (uint32_t x : v) {
      Store32(p, 4);
      Store32(p + 4, x);
      p += 8;
    }
  }
  void Int64Array(std::span<const int64_t> v) {
    char* p = ArrayHeader(v.size(), kInt8Oid, 8);
    for (int64_t x : v) {
      Store32(p, 8);
      Store64(p + 4, static_cast<uint64_t>(x));
      p += 12;
    }
  }
  void Trailer() { Put16(0xffff); }

  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  // Room for `n` more bytes; the bounds check is the only branch on the fast path (this runs
  // for every field of every row).
  char* Grow(size_t n) {
    if (n > capacity_ - size_) [[unlikely]] {
      capacity_ = std::max<size_t>({2 * capacity_, size_ + n, 1 << 16});
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity_);
      if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
    }
    char* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  void Append(const void* bytes, size_t n) { std::memcpy(Grow(n), bytes, n); }
  static void Store32(char* p, uint32_t v) {
    v = htobe32(v);
    std::memcpy(p, &v, 4);
  }
  static void Store64(char* p, uint64_t v) {
    v = htobe64(v);
    std::memcpy(p, &v, 8);
  }
  void Put16(uint16_t v) {
    v = htobe16(v);
    std::memcpy(Grow(2), &v, 2);
  }
  void Put32(uint32_t v) { Store32(Grow(4), v); }
  void Put64(uint64_t v) { Store64(Grow(8), v); }
  // Writes the field length and array header and reserves room for the elements; returns
  // where the first element goes.
  char* ArrayHeader(size_t n, uint32_t element_oid, uint32_t element_size) {
    const size_t header = n == 0 ? 12 : 20;
    const size_t length = header + n * (4 + element_size);
    char* p = Grow(4 + length);
    Store32(p, static_cast<uint32_t>(length));
    Store32(p + 4, n == 0 ? 0 : 1);  // dimensions
    Store32(p + 8, 0);               // no NULL elements
    Store32(p + 12, element_oid);
    if (n > 0) {
      Store32(p + 16, static_cast<uint32_t>(n));
      Store32(p + 20, 1);  // lower bound
    }
    return p + 4 + header;
  }

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// The connection of one store; what survives a reconnect (PQreset) lives here.
class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(SafeLocation safe, Conn conn) : safe_(std::move(safe)), conn_(std::move(conn)) {}
  ~PostgresDatabase() override;

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string Describe() const override { return "PostgreSQL store " + safe_.Describe(); }
  Status Query(std::string_view sql, std::span<const SqlValue> params, const RowFn& fn) override;
  StatusOr<uint64_t> Execute(std::string_view sql, std::span<const SqlValue> params) override;
  Status ExecuteScript(std::string_view sql) override;
  Status Insert(std::string_view table, std::span<const SqlColumn> columns, size_t rows,
                const std::function<void(size_t, SqlRowWriter&)>& fill) override;
  // pg_try_advisory_lock, held by this session (and taken again by Reconnect).
  StatusOr<WriterLock> LockForWriting() override;
  Status LockMigrations() override;

  PGconn* conn() { return conn_.get(); }
  const SafeLocation& safe() const { return safe_; }
  // Resets the connection; takes the writer lock again when it was held. Errors:
  // kUnavailable, kFailedPrecondition (another writer took the lock meanwhile).
  Status Reconnect();
  // Maps a failed result (or, for nullptr, the connection's error) to a Status: connection
  // trouble and the server's "try again" codes become kUnavailable, a full disk
  // kResourceExhausted, a unique violation kAlreadyExists.
  Status Error(const PGresult* r, std::string_view what);

  // Streams `n` rows produced by `row(rows, i)` through `sql`, a COPY ... FROM STDIN (FORMAT
  // binary).
  template <typename RowFn>
  Status Copy(const char* sql, size_t n, RowFn row) {
    Result start(PQexec(conn(), sql));
    if (PQresultStatus(start.get()) != PGRES_COPY_IN) return Error(start.get(), "start COPY");
    // The server parses one piece while this process encodes the next (64 KiB to 1 MiB
    // measured the same once the socket buffer was widened; BENCHMARKS.md).
    constexpr size_t kPiece = 256 << 10;
    CopyRows rows;
    bool failed = false;
    for (size_t i = 0; i < n && !failed; ++i) {
      row(rows, i);
      if (rows.size() >= kPiece) {
        failed = PQputCopyData(conn(), rows.data(), static_cast<int>(rows.size())) != 1;
        rows.clear();
      }
    }
    if (!failed) {
      rows.Trailer();
      failed = PQputCopyData(conn(), rows.data(), static_cast<int>(rows.size())) != 1;
    }
    if (PQputCopyEnd(conn(), failed ? "client failed to send data" : nullptr) != 1) failed = true;
    Status s;
    while (Result r{PQgetResult(conn())}) {
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && s.ok()) s = Error(r.get(), "COPY rows");
    }
    if (s.ok() && failed) s = Error(nullptr, "send COPY data");
    return s;
  }

 protected:
  Status Begin() override;
  Status Commit() override;
  void Rollback() override;

 private:
  StatusOr<Result> Run(std::string_view sql, std::span<const SqlValue> params);

  SafeLocation safe_;
  Conn conn_;
  // Shared with the release function of the WriterLock handed out, which may run after a
  // reconnect (the same PGconn: PQreset keeps it).
  std::shared_ptr<bool> writer_lock_held_ = std::make_shared<bool>(false);
};

}  // namespace tessera::store::internal
