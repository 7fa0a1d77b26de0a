#include "tessera/collab/party.h"

#include <sodium.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "tessera/privacy/order_token.h"

namespace tessera::collab {

static_assert(PartyId::kKeySize == crypto_sign_PUBLICKEYBYTES);
static_assert(PartyKey::kSeedSize == crypto_sign_SEEDBYTES);
static_assert(std::tuple_size_v<Signature> == crypto_sign_BYTES);
static_assert(crypto_sign_SECRETKEYBYTES == 64);

namespace {

Status InitSodium() {
  static const int rc = sodium_init();  // 0 first time, 1 when already done, -1 on failure
  if (rc < 0) return InternalError("libsodium cannot initialize");
  return OkStatus();
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The code points of `text`, or nullopt when it is not UTF-8 (overlong forms, surrogates and
// values above U+10FFFF are not UTF-8).
std::optional<std::vector<char32_t>> DecodeUtf8(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    int extra;
    char32_t cp;
    if (b0 < 0x80) {
      extra = 0;
      cp = b0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      extra = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      extra = 2;
      cp = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      extra = 3;
      cp = b0 & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= text.size()) return std::nullopt;
    for (int k = 1; k <= extra; ++k) {
      const auto b = static_cast<uint8_t>(text[i + k]);
      if ((b & 0xc0) != 0x80) return std::nullopt;
      cp = cp << 6 | (b & 0x3f);
    }
    const char32_t min = extra == 1 ? 0x80 : extra == 2 ? 0x800 : extra == 3 ? 0x10000 : 0;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

}  // namespace

// --- PartyId

StatusOr<PartyId> PartyId::FromPublicKey(std::span<const uint8_t> key) {
  if (key.size() != kKeySize) {
    return InvalidArgumentError("an Ed25519 public key has {} bytes, not {}", kKeySize, key.size());
  }
  TESSERA_RETURN_IF_ERROR(InitSodium());
  // Refuses non-canonical encodings, points off the curve and points of small order: with a
  // small-order key, a signature can verify for many messages without any secret.
  if (crypto_core_ed25519_is_valid_point(key.data()) != 1) {
    return InvalidArgumentError("not a valid Ed25519 public key");
  }
  PartyId id;
  std::memcpy(id.key_.data(), key.data(), kKeySize);
  return id;
}

StatusOr<PartyId> PartyId::Parse(std::string_view text) {
  if (!text.starts_with(kPrefix)) {
    return InvalidArgumentError("a party id starts with \"{}\"", kPrefix);
  }
  const std::string_view hex = text.substr(kPrefix.size());
  if (hex.size() != 2 * kKeySize || !std::all_of(hex.begin(), hex.end(), IsLowerHex)) {
    return InvalidArgumentError("a party id is \"{}\" followed by {} lowercase hex digits", kPrefix,
                                2 * kKeySize);
  }
  TESSERA_ASSIGN_OR_RETURN(const std::string bytes, privacy::HexDecode(hex));
  auto id = FromPublicKey({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  if (!id.ok()) return id.status().WithContext("party id");
  return id;
}

std::string PartyId::ToString() const {
  return std::string(kPrefix) +
         privacy::HexEncode({reinterpret_cast<const char*>(key_.data()), key_.size()});
}

bool Verify(const PartyId& signer, std::string_view message, std::span<const uint8_t> signature) {
  if (signature.size() != crypto_sign_BYTES || !InitSodium().ok()) return false;
  return crypto_sign_verify_detached(signature.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), signer.public_key().data()) == 0;
}

// --- PartyKey

PartyKey::PartyKey(const PartyId& id, std::span<const uint8_t, 64> secret) : id_(id) {
  std::memcpy(secret_.data(), secret.data(), secret_.size());
}

StatusOr<PartyKey> PartyKey::FromSeed(std::span<const uint8_t, kSeedSize> seed) {
  TESSERA_RETURN_IF_ERROR(InitSodium());
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> sk;
  if (crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data()) != 0) {
    sodium_memzero(sk.data(), sk.size());
    return InternalError("libsodium cannot make an Ed25519 key pair");
  }
  auto id = PartyId::FromPublicKey(pk);
  if (!id.ok()) {  // a public key from a seed is always a valid point: a library failure
    sodium_memzero(sk.data(), sk.size());
    return InternalError("libsodium made an invalid Ed25519 public key");
  }
  PartyKey key(*id, sk);
  sodium_memzero(sk.data(), sk.size());
  return key;
}

StatusOr<PartyKey> PartyKey::Derive(const privacy::OwnerKey& owner_key) {
  std::array<uint8_t, kSeedSize> seed;
  const Status derived = owner_key.Derive(kPartyKeyLabel, seed);
  if (!derived.ok()) {
    sodium_memzero(seed.data(), seed.size());
    return derived;
  }
  auto key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

Signature PartyKey::Sign(std::string_view message) const {
  Signature sig{};
  // Cannot fail for a valid key; InitSodium has run in FromSeed.
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_.data());
  return sig;
}

PartyKey::PartyKey(PartyKey&& other) noexcept : id_(other.id_), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

PartyKey& PartyKey::operator=(PartyKey&& other) noexcept {
  if (this != &other) {
    id_ = other.id_;
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

PartyKey::~PartyKey() { sodium_memzero(secret_.data(), secret_.size()); }

// --- Names

Status ValidatePartyName(std::string_view name) {
  const auto cps = DecodeUtf8(name);
  if (!cps) return InvalidArgumentError("a party name must be UTF-8 text");
  if (cps->empty() || cps->size() > 64) {
    return InvalidArgumentError("a party name has 1 to 64 characters, not {}", cps->size());
  }
  for (char32_t c : *cps) {
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029) {
      return InvalidArgumentError("a party name must not contain control characters");
    }
  }
  if (cps->front() == ' ' || cps->back() == ' ') {
    return InvalidArgumentError("a party name must not start or end with a space");
  }
  return OkStatus();
}

// --- PartyStore

namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kPartyMigrations[] = {
    // 1: the store's own party (one row): its name and id, never its secret key.
    {R"sql(CREATE TABLE collab_party (
  singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
  name       TEXT NOT NULL,
  party_id   TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)sql",
     R"sql(CREATE TABLE collab_party (
  singleton  smallint    PRIMARY KEY CHECK (singleton = 1),
  name       text        NOT NULL,
  party_id   text        NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
)sql"},
};
constexpr store::Schema kPartySchema{"collab.party", kPartyMigrations};

}  // namespace

const store::Schema& PartyStore::Schema() { return kPartySchema; }

StatusOr<std::optional<PartyProfile>> PartyStore::Read() {
  std::optional<PartyProfile> out;
  TESSERA_RETURN_IF_ERROR(db_.Query("SELECT name, party_id, " + db_.IsoTimestampSql("created_at") +
                                        " FROM collab_party WHERE singleton = 1",
                                    {}, [&](const store::SqlRow& row) {
                                      auto id = PartyId::Parse(row.Text(1));
                                      if (!id.ok()) {
                                        return DataLossError(
                                            "{}: the stored party id is damaged ({})",
                                            db_.Describe(), id.status().message());
                                      }
                                      out = PartyProfile{row.Text(0), *id, row.Text(2)};
                                      return OkStatus();
                                    }));
  return out;
}

StatusOr<PartyProfile> PartyStore::Init(std::string_view name, const PartyKey& key) {
  TESSERA_RETURN_IF_ERROR(ValidatePartyName(name));
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kPartySchema));
  const std::string id = key.id().ToString();
  auto once = [&] {
    return db_.Transaction([&]() -> Status {
      TESSERA_ASSIGN_OR_RETURN(const std::optional<PartyProfile> have, Read());
      if (!have) {
        return db_
            .Execute(
                "INSERT INTO collab_party(singleton, name, party_id, created_at, updated_at) "
                "VALUES (1, $1, $2, " +
                    db_.NowSql() + ", " + db_.NowSql() + ")",
                {name, id})
            .status();
      }
      if (have->id != key.id()) {
        return FailedPreconditionError(
            "{} is already the party {} (\"{}\"), whose key comes from another owner key; a "
            "store is one party",
            db_.Describe(), have->id.ToString(), have->name);
      }
      if (have->name == name) return OkStatus();
      return db_
          .Execute("UPDATE collab_party SET name = $1, updated_at = " + db_.NowSql() +
                       " WHERE singleton = 1",
                   {name})
          .status();
    });
  };
  Status done = once();
  // Two processes initializing at once on PostgreSQL: the second insert meets the first's row.
  if (done.code() == StatusCode::kAlreadyExists) done = once();
  TESSERA_RETURN_IF_ERROR(done);
  return Show();
}

StatusOr<PartyProfile> PartyStore::Show() {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kPartySchema));
  TESSERA_ASSIGN_OR_RETURN(std::optional<PartyProfile> have, Read());
  if (!have) {
    return NotFoundError("{} is no party yet: run `tessera party init --name NAME`",
                         db_.Describe());
  }
  return std::move(*have);
}

// --- Roles and collaboration files

std::string_view PartyRoleName(PartyRole role) {
  switch (role) {
    case PartyRole::kDataOwner:
      return "data_owner";
    case PartyRole::kAnalyst:
      return "analyst";
    case PartyRole::kWorkerHost:
      return "worker_host";
  }
  return "?";
}

StatusOr<PartyRole> ParsePartyRole(std::string_view name) {
  for (PartyRole r : {PartyRole::kDataOwner, PartyRole::kAnalyst, PartyRole::kWorkerHost}) {
    if (PartyRoleName(r) == name) return r;
  }
  return InvalidArgumentError("unknown role (known: data_owner, analyst, worker_host)");
}

bool CollaborationParty::HasRole(PartyRole role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

const CollaborationParty* Collaboration::Find(const PartyId& id) const {
  for (const CollaborationParty& p : parties) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const CollaborationParty* Collaboration::FindByName(std::string_view name) const {
  for (const CollaborationParty& p : parties) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

Status ValidateEndpoint(std::string_view url) {
  for (char c : url) {
    if (static_cast<uint8_t>(c) <= 0x20 || static_cast<uint8_t>(c) >= 0x7f) {
      return InvalidArgumentError("an endpoint is an URL without spaces or control characters");
    }
  }
  bool plain_http = false;
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
    plain_http = true;
  } else {
    return InvalidArgumentError(
        "an endpoint starts with https:// (http:// only to a loopback host)");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return InvalidArgumentError("an endpoint has no query (?) or fragment (#)");
  }
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgumentError("an endpoint carries no user name or password (@)");
  }
  std::string_view host = authority, port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgumentError("an endpoint's IPv6 address lacks its closing ]");
    }
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return InvalidArgumentError("an endpoint's host is followed by ':port'");
      port = after.substr(1);
    }
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (inner.empty() || !std::all_of(inner.begin(), inner.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return InvalidArgumentError("an endpoint's IPv6 address is malformed");
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return InvalidArgumentError("an endpoint's port is empty");
    }
    const bool good_chars = std::all_of(host.begin(), host.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    });
    if (host.empty() || host.size() > 253 || !good_chars || host.front() == '.' ||
        host.front() == '-' || host.back() == '-' || host.find("..") != std::string_view::npos) {
      return InvalidArgumentError("an endpoint's host name is malformed");
    }
  }
  if (!port.empty() || authority.ends_with(':')) {
    int value = 0;
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgumentError("an endpoint's port is a number from 1 to 65535");
    }
    for (char c : port) value = value * 10 + (c - '0');
    if (value < 1 || value > 65535) {
      return InvalidArgumentError("an endpoint's port is a number from 1 to 65535");
    }
  }
  if (plain_http) {
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool loopback = lower == "localhost" || lower == "[::1]";
    if (lower.starts_with("127.")) {
      int dots = 0;
      loopback = std::all_of(lower.begin(), lower.end(), [&](char c) {
        if (c == '.') ++dots;
        return c == '.' || (c >= '0' && c <= '9');
      });
      loopback = loopback && dots == 3;
    }
    if (!loopback) {
      return InvalidArgumentError(
          "an endpoint on another host must use https:// (http:// is for loopback hosts only)");
    }
  }
  return OkStatus();
}

namespace {

Status FileError(std::string_view origin, const toml::node& node, std::string_view field,
                 std::string_view reason) {
  const auto& src = node.source();
  Status s = InvalidArgumentError("{}:{}:{}: {}: {}", origin, src.begin.line, src.begin.column,
                                  field, reason);
  s.SetDetail("line", static_cast<int64_t>(src.begin.line));
  s.SetDetail("field", std::string(field));
  return s;
}

StatusOr<CollaborationParty> ParseParty(const toml::table& t, std::string_view origin) {
  static constexpr std::string_view kKeys[] = {"name", "id", "endpoint", "roles"};
  for (const auto& [key, node] : t) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key.str()) == std::end(kKeys)) {
      return FileError(origin, node, key.str(),
                       "unknown key (a [[party]] has name, id, endpoint and roles)");
    }
  }
  for (std::string_view key : kKeys) {
    if (!t.contains(key)) {
      return FileError(origin, t, key, "missing (a [[party]] has name, id, endpoint and roles)");
    }
  }
  const toml::node& name_node = *t.get("name");
  const toml::node& id_node = *t.get("id");
  const toml::node& endpoint_node = *t.get("endpoint");
  const toml::node& roles_node = *t.get("roles");

  if (!name_node.is_string()) return FileError(origin, name_node, "name", "must be a string");
  const auto name = name_node.value<std::string>();
  if (Status s = ValidatePartyName(*name); !s.ok()) {
    return FileError(origin, name_node, "name", s.message());
  }
  if (!id_node.is_string()) return FileError(origin, id_node, "id", "must be a string");
  auto id = PartyId::Parse(*id_node.value<std::string>());
  if (!id.ok()) return FileError(origin, id_node, "id", id.status().message());
  if (!endpoint_node.is_string()) {
    return FileError(origin, endpoint_node, "endpoint", "must be a string");
  }
  const std::string endpoint = *endpoint_node.value<std::string>();
  if (Status s = ValidateEndpoint(endpoint); !s.ok()) {
    return FileError(origin, endpoint_node, "endpoint", s.message());
  }
  const toml::array* roles = roles_node.as_array();
  if (roles == nullptr) {
    return FileError(origin, roles_node, "roles", "must be a list of roles");
  }
  if (roles->empty()) {
    return FileError(origin, roles_node, "roles",
                     "must name at least one of data_owner, analyst, worker_host");
  }
  CollaborationParty party{*name, *id, endpoint, {}, static_cast<int>(t.source().begin.line)};
  for (const toml::node& item : *roles) {
    if (!item.is_string()) return FileError(origin, item, "roles", "must list strings");
    const auto role_name = item.value<std::string>();
    auto role = ParsePartyRole(*role_name);
    if (!role.ok()) {
      return FileError(
          origin, item, "roles",
          fmt::format("unknown role \"{}\" (known: data_owner, analyst, worker_host)", *role_name));
    }
    if (party.HasRole(*role)) {
      return FileError(origin, item, "roles", fmt::format("\"{}\" is listed twice", *role_name));
    }
    party.roles.push_back(*role);
  }
  return party;
}

}  // namespace

StatusOr<Collaboration> ParseCollaboration(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(origin));
  } catch (const toml::parse_error& e) {
    Status s = InvalidArgumentError("{}:{}:{}: {}", origin, e.source().begin.line,
                                    e.source().begin.column, e.description());
    s.SetDetail("line", static_cast<int64_t>(e.source().begin.line));
    return s;
  }
  for (const auto& [key, node] : root) {
    if (key.str() != "party") {
      return FileError(origin, node, key.str(),
                       "unknown key (a collaboration file holds [[party]] tables only)");
    }
  }
  const toml::node* parties = root.get("party");
  if (parties == nullptr) {
    Status s = InvalidArgumentError(
        "{}: party: no [[party]] table: a collaboration file lists "
        "its parties",
        origin);
    s.SetDetail("field", "party");
    return s;
  }
  const toml::array* list = parties->as_array();
  if (list == nullptr || !list->is_array_of_tables()) {
    return FileError(origin, *parties, "party", "must be [[party]] tables");
  }
  Collaboration out;
  for (const toml::node& entry : *list) {
    TESSERA_ASSIGN_OR_RETURN(CollaborationParty party, ParseParty(*entry.as_table(), origin));
    if (const CollaborationParty* other = out.Find(party.id)) {
      return FileError(
          origin, *entry.as_table()->get("id"), "id",
          fmt::format("this party id is already given to the party at line {}", other->line));
    }
    if (const CollaborationParty* other = out.FindByName(party.name)) {
      return FileError(
          origin, *entry.as_table()->get("name"), "name",
          fmt::format("this name is already given to the party at line {}", other->line));
    }
    out.parties.push_back(std::move(party));
  }
  return out;
}

StatusOr<Collaboration> LoadCollaboration(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFoundError("no collaboration file {}", path);
  }
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgumentError("{} is a directory, not a collaboration file", path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return PermissionDeniedError("cannot read the collaboration file {}", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return PermissionDeniedError("cannot read the collaboration file {}", path);
  return ParseCollaboration(text.str(), path);
}

}  // namespace tessera::collab
