#pragma once

// Test support for collaboration queries (session.h): two owners with their own stores and
// keys, each with an OwnerNode, grants issued and imported as partners would, and queries run
// as owner A through the real join worker binary (TESSERA_WORKER_BINARY, without which
// RequesterOf and Run are left out). By default A has people 0..399, B people 250..649 (one order
// each, e-mail Person.<i>@Example.com): 150 in common; Build sets other sizes, second orders and
// regions.

#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audience/test_support.h"
#include "tessera/collab/grant.h"
#include "tessera/collab/party.h"
#include "tessera/collab/session.h"

namespace tessera::collab::testing {

inline privacy::OwnerKey KeyOf(uint8_t fill) {
  std::array<uint8_t, 32> bytes;
  bytes.fill(fill);
  return privacy::OwnerKey::FromBytes(bytes);
}

// People p<first>..p<first+n-1> of `party`: one order each, same day and amount (one segment),
// so that a breakdown by segment has one cell holding everyone matched. With `second_every` > 0
// every person whose number is a multiple of it has a second order, so that "orders >= 2"
// selects exactly them. With `region_of`, the file has a "region" column: region_of(i) for
// person i.
inline std::string WriteOrders(const std::filesystem::path& dir, const std::string& party,
                               int first, int n, int second_every = 0,
                               const std::function<std::string(int)>& region_of = {}) {
  const std::string path = (dir / (party + ".csv")).string();
  std::ofstream out(path);
  out << "order_id,email,ordered_at,amount" << (region_of ? ",region" : "") << "\n";
  for (int i = first; i < first + n; ++i) {
    const std::string region = region_of ? "," + region_of(i) : "";
    out << party << i << ",Person." << i << "@Example.com,2024-05-01,25.00" << region << "\n";
    if (second_every > 0 && i % second_every == 0) {
      out << party << i << "b,Person." << i << "@Example.com,2024-06-01,25.00" << region << "\n";
    }
  }
  return path;
}

// The people of one owner, as WriteOrders writes them.
struct People {
  int first = 0;
  int count = 0;
  int second_every = 0;
  std::function<std::string(int)> region_of = {};
};

struct Owner {
  std::string location;
  std::shared_ptr<const privacy::OwnerKey> key;
  std::optional<PartyKey> party;
  std::unique_ptr<OwnerNode> node;
  std::unique_ptr<store::Store> store;
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(400, 250, 400); }  // 150 in common

  // The two owners, their collaboration file (Retailer = A, Telco = B, then `others`) and their
  // nodes. A has people 0..a_count-1, B b_first..b_first+b_count-1. `a_every`, `b_every`:
  // WriteOrders's second_every for each.
  void Build(int a_count, int b_first, int b_count, int a_every = 0, int b_every = 0,
             const std::vector<CollaborationParty>& others = {}) {
    Build(People{.first = 0, .count = a_count, .second_every = a_every},
          People{.first = b_first, .count = b_count, .second_every = b_every}, others);
  }

  // The same with each owner's people given whole (`region_of` gives their files a region).
  void Build(const People& a, const People& b, const std::vector<CollaborationParty>& others = {}) {
    dir_ = audience::testing::TestDir();
    MakeOwner(&a_, "a", KeyOf(11), a);
    MakeOwner(&b_, "b", KeyOf(22), b);
    for (Owner* o : {&a_, &b_}) {
      CollaborationParty p{o == &a_ ? "Retailer" : "Telco",
                           o->party->id(),
                           o == &a_ ? "http://127.0.0.1:1" : "http://127.0.0.1:2",
                           {PartyRole::kDataOwner}};
      collaboration_.parties.push_back(p);
    }
    for (const CollaborationParty& p : others) collaboration_.parties.push_back(p);
    for (Owner* o : {&a_, &b_}) {
      OwnerNodeOptions options;
      const std::string location = o->location;
      options.open_store = [location]() -> StatusOr<std::unique_ptr<store::Store>> {
        return store::Store::Open(location, false);
      };
      options.index_path = location + ".audience";
      options.owner_key = o->key;
      options.collaboration = collaboration_;
      options.clock = [this] { return now_; };
      auto node = OwnerNode::Create(std::move(options));
      ASSERT_TRUE(node.ok()) << node.status().ToString();
      o->node = std::move(*node);
    }
  }

  void MakeOwner(Owner* o, const std::string& name, privacy::OwnerKey key, const People& people) {
    o->location = (dir_ / (name + ".db")).string();
    o->key = std::make_shared<const privacy::OwnerKey>(key);
    auto party = PartyKey::Derive(key);
    ASSERT_TRUE(party.ok());
    o->party.emplace(std::move(*party));
    auto store = store::Store::Open(o->location, true);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE(PartyStore((*store)->db()).Init(name, *o->party).ok());
    ingest::LoadOptions options;
    options.mapping = *io::LoadMapping("generic");
    options.match_tokens = true;
    auto loaded = ingest::LoadOrders(**store, key,
                                     {WriteOrders(dir_, name, people.first, people.count,
                                                  people.second_every, people.region_of)},
                                     options);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    analytics::ProfileOptions po;
    po.as_of_day = audience::testing::kEndDay;
    po.window = Duration::Months(12);
    auto rules = analytics::SegmentRules::Default();
    auto set = analytics::ComputeSegmentedProfiles(**store, po, *rules);
    ASSERT_TRUE(set.ok());
    ASSERT_TRUE(analytics::SaveSnapshot(**store, *set, *rules).ok());
    o->store = std::move(*store);
  }

  // `grantor` grants `grantee` `purpose` (GrantStore::Create at the grantor, signed now), with
  // the grantee as recipient and worker host; `importer`, when given, imports it.
  Grant IssueGrant(Owner& grantor, const PartyId& grantee, Owner* importer, Purpose purpose,
                   std::vector<OutputKind> outputs, std::vector<std::string> fields = {},
                   int64_t k_min = 10, std::optional<DpPolicy> dp = std::nullopt) {
    GrantSpec spec{.grantor = grantor.party->id(), .grantee = grantee};
    spec.purpose = purpose;
    spec.output_kinds = std::move(outputs);
    spec.allowed_fields = std::move(fields);
    spec.k_min = k_min;
    spec.differential_privacy = dp;
    spec.recipients = {grantee};
    spec.worker_hosts = {grantee};
    spec.attestation_modes = {AttestationMode::kSimulated};
    spec.not_before = now_ - 86400;
    spec.expires = now_ + 30 * 86400;
    auto grant = GrantStore(grantor.store->db()).Create(spec, *grantor.party);
    EXPECT_TRUE(grant.ok()) << grant.status().ToString();
    if (importer != nullptr) {
      auto imported = GrantStore(importer->store->db())
                          .Import(GrantToJson(*grant), collaboration_, importer->party->id());
      EXPECT_TRUE(imported.ok()) << imported.status().ToString();
    }
    return *grant;
  }

  // B grants A `purpose` and A imports it.
  Grant IssueToA(Purpose purpose, std::vector<OutputKind> outputs,
                 std::vector<std::string> fields = {}, int64_t k_min = 10,
                 std::optional<DpPolicy> dp = std::nullopt) {
    return IssueGrant(b_, a_.party->id(), &a_, purpose, std::move(outputs), std::move(fields),
                      k_min, dp);
  }

#ifdef TESSERA_WORKER_BINARY
  RequesterOptions RequesterOf(const Owner& o) {
    RequesterOptions options;
    options.owner_key = o.key;
    options.collaboration = collaboration_;
    options.worker_binary = TESSERA_WORKER_BINARY;
    options.clock = [this] { return now_; };
    return options;
  }

  // A transport from A to both owners' nodes in this process.
  LocalTransport TransportOfA() {
    return LocalTransport(*a_.party, {a_.node.get(), b_.node.get()}, nullptr,
                          [this] { return now_; });
  }

  // A query run by A.
  StatusOr<QueryResult> Run(QuerySpec spec) {
    LocalTransport transport = TransportOfA();
    auto grants = GrantStore(a_.store->db()).List();
    EXPECT_TRUE(grants.ok());
    return RunQuery(spec, RequesterOf(a_), *grants, transport);
  }
#endif  // TESSERA_WORKER_BINARY

  QuerySpec Overlap() {
    QuerySpec spec;
    spec.kind = QueryKind::kOverlap;
    spec.owners = {"Retailer", "Telco"};
    return spec;
  }

  std::filesystem::path dir_;
  Owner a_, b_;
  Collaboration collaboration_;
  int64_t now_ = static_cast<int64_t>(std::time(nullptr));
};

}  // namespace tessera::collab::testing
