// Grants: canonical JSON against RFC 8785's examples, signing and strict parsing, "the
// strictest grant wins", and the grant store on both stores.

#include "tessera/collab/grant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collab/protocol/test_bytes.h"
#include "store/test_stores.h"
#include "tessera/common/civil_time.h"
#include "tessera/store/store.h"

namespace tessera::collab {
namespace {

using Json = nlohmann::json;

// --- Canonical JSON

// RFC 8785 section 3.2.3: members sorted by the UTF-16 code units of their names, so that
// U+1F600 (D83D DE00) sorts before U+FB33, unlike by code point or by UTF-8 bytes.
TEST(CanonicalJson, SortsMembersAsRfc8785Section323) {
  const std::string input = R"({
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
})";
  const std::string expected =
      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
      "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
      "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
      "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
  auto canonical = CanonicalizeJson(input);
  ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
  EXPECT_EQ(*canonical, expected);
}

// RFC 8785 section 3.2.2's example without its "numbers" member (floating point, which this
// module never signs): string escaping and the literals.
TEST(CanonicalJson, EscapesStringsAsRfc8785Section322) {
  const std::string input = R"({
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
})";
  const std::string expected =
      "{\"literals\":[null,true,false],\"string\":\"\xe2\x82\xac$"
      R"(\u000f\nA'B\"\\\\\"/"})";
  auto canonical = CanonicalizeJson(input);
  ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
  EXPECT_EQ(*canonical, expected);
}

TEST(CanonicalJson, SortsEveryLevelAndDropsWhitespace) {
  auto canonical = CanonicalizeJson(
      " { \"b\" : [ { \"z\" : 1 , \"a\" : -2 } , [ ] , { } ] ,\n\t\"a\" : { \"d\" : true , \"c\" : "
      "null } , \"\" : 0 } ");
  ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
  EXPECT_EQ(*canonical, R"({"":0,"a":{"c":null,"d":true},"b":[{"a":-2,"z":1},[],{}]})");
}

TEST(CanonicalJson, EscapesControlCharactersOnly) {
  auto canonical =
      CanonicalizeJson(R"({"s":"\u0000\b\t\n\u000b\f\r\u001f\u007f\u2028/\u00e9\"\\"})");
  ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
  EXPECT_EQ(*canonical,
            "{\"s\":\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\xe2\x80\xa8/\xc3\xa9\\\"\\\\\"}");
}

TEST(CanonicalJson, KeepsIntegersInIJsonRange) {
  auto canonical = CanonicalizeJson(R"([0, -0, 9007199254740991, -9007199254740991, 100])");
  ASSERT_TRUE(canonical.ok()) << canonical.status().ToString();
  EXPECT_EQ(*canonical, "[0,0,9007199254740991,-9007199254740991,100]");
}

TEST(CanonicalJson, RefusesWhatItCannotSignExactly) {
  for (const char* bad :
       {"1.5", "1.0", "1e3", "[0.1]", "9007199254740992", "-9007199254740992", R"({"a":1,"a":2})",
        R"({"x":{"a":1,"b":2,"a":3}})", "{", "", "[1,]", "{\"a\" 1}", R"(["\ud800"])", "[\"\xff\"]",
        "[\"\xc0\xaf\"]", "NaN", "01"}) {
    auto canonical = CanonicalizeJson(bad);
    EXPECT_EQ(canonical.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(CanonicalizeJson(R"({"k":1,"k":2})").status().message().find("\"k\" appears twice"),
            std::string::npos);
  // The same name in two objects is no duplicate.
  EXPECT_TRUE(CanonicalizeJson(R"({"a":{"k":1},"b":{"k":2}})").ok());
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  EXPECT_EQ(CanonicalizeJson(deep).status().code(), StatusCode::kInvalidArgument);
}

// --- Times

TEST(GrantTime, ReadsUtcSecondsOnly) {
  auto t = ParseGrantTime("2026-01-05T09:30:07Z");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(FormatIsoTimestamp(*t), "2026-01-05T09:30:07Z");
  EXPECT_EQ(*ParseGrantTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseGrantTime("2024-02-29T23:59:59Z"), *ParseGrantTime("2024-03-01T00:00:00Z") - 1);
  for (const char* bad : {"", "2026-01-05", "2026-01-05 09:30:00Z", "2026-01-05T09:30:00",
                          "2026-01-05T09:30:00+00:00", "2026-01-05T09:30:00.5Z",
                          "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-01-05T24:00:00Z",
                          "2026-01-05T09:60:00Z", "2026-01-05T09:30:60Z", "1969-12-31T23:59:59Z",
                          "+026-01-05T09:30:00Z", "2026-1-05T09:30:00Z", "2026-01-05t09:30:00z"}) {
    EXPECT_EQ(ParseGrantTime(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(GrantNames, ParseAndNameEachOther) {
  for (Purpose p : {Purpose::kOverlap, Purpose::kAudienceCounts, Purpose::kActivation,
                    Purpose::kCampaignMeasurement}) {
    EXPECT_EQ(*ParsePurpose(PurposeName(p)), p);
  }
  for (OutputKind k : {OutputKind::kOverlapSize, OutputKind::kAudienceCount,
                       OutputKind::kCellCounts, OutputKind::kActivationList}) {
    EXPECT_EQ(*ParseOutputKind(OutputKindName(k)), k);
  }
  for (AttestationMode m : {AttestationMode::kSimulated, AttestationMode::kSgxDcap}) {
    EXPECT_EQ(*ParseAttestationMode(AttestationModeName(m)), m);
  }
  EXPECT_EQ(PurposeName(Purpose::kCampaignMeasurement), "campaign_measurement");
  EXPECT_EQ(AttestationModeName(AttestationMode::kSgxDcap), "sgx-dcap");
  EXPECT_FALSE(ParsePurpose("Overlap").ok());
  EXPECT_FALSE(ParseOutputKind("rows").ok());
  EXPECT_FALSE(ParseAttestationMode("sgx_dcap").ok());
}

// --- Signed grants

PartyKey KeyFromSeed(std::string_view hex) {
  const std::vector<uint8_t> seed = test::Bytes(hex);
  auto key = PartyKey::FromSeed(std::span<const uint8_t, 32>(seed.data(), 32));
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(*key);
}

PartyKey KeyOf(uint8_t tag) {
  std::array<uint8_t, 32> seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(tag * 31 + i);
  auto key = PartyKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(*key);
}

int64_t T(const char* iso) {
  auto t = ParseGrantTime(iso);
  EXPECT_TRUE(t.ok()) << iso;
  return t.ok() ? *t : 0;
}

constexpr int64_t kDay = 86400;

template <typename T>
std::vector<T> SortedCopy(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The keys of RFC 8032 section 7.1 TEST 1 and TEST 2, whose public keys (and so party ids)
// are printed there.
class SignedGrant : public ::testing::Test {
 protected:
  PartyKey owner_ = KeyFromSeed("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  PartyKey partner_ =
      KeyFromSeed("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
  const std::string owner_id_ =
      "tp1:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const std::string partner_id_ =
      "tp1:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

  GrantSpec Spec() const {
    GrantSpec s{.grantor = owner_.id(), .grantee = partner_.id()};
    s.purpose = Purpose::kAudienceCounts;
    s.allowed_fields = {"region", "age_band"};
    s.predicates.max_category_depth = 2;
    s.output_kinds = {OutputKind::kCellCounts, OutputKind::kAudienceCount};
    s.differential_privacy = DpPolicy{500000, 3000000, "month"};
    s.recipients = {partner_.id(), owner_.id()};
    s.worker_hosts = {owner_.id()};
    s.attestation_modes = {AttestationMode::kSgxDcap, AttestationMode::kSimulated};
    s.not_before = T("2026-01-05T00:00:00Z");
    s.expires = T("2026-07-01T00:00:00Z");
    return s;
  }

  Grant Issue(const GrantSpec& spec) const {
    auto g = IssueGrant(spec, owner_, T("2026-01-05T09:30:00Z"), "g_0123456789abcdef");
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : Grant{"", spec, 0, {}};
  }
};

TEST_F(SignedGrant, SignsThisCanonicalJson) {
  ASSERT_EQ(owner_.id().ToString(), owner_id_);
  ASSERT_EQ(partner_.id().ToString(), partner_id_);
  const Grant g = Issue(Spec());
  // Written out by hand from the rules in grant.h: members sorted, no white space, sets sorted
  // (names by bytes, kinds and modes in their enums' order, parties by key bytes), ε as text.
  const std::string expected =
      R"({"allowed_fields":["age_band","region"],"attestation_modes":["simulated","sgx-dcap"],)"
      R"("created_at":"2026-01-05T09:30:00Z","differential_privacy":{"budget_per_period":"3",)"
      R"("epsilon_per_query":"0.5","period":"month"},"expires":"2026-07-01T00:00:00Z",)"
      R"("grant_id":"g_0123456789abcdef","grantee":")" +
      partner_id_ + R"(","grantor":")" + owner_id_ +
      R"(","k_min":100,"not_before":"2026-01-05T00:00:00Z",)"
      R"("output_kinds":["audience_count","cell_counts"],"predicates":{"max_category_depth":2},)"
      R"("purpose":"audience_counts","recipients":[")" +
      partner_id_ + R"(",")" + owner_id_ + R"("],"type":"tessera.grant.v1","worker_hosts":[")" +
      owner_id_ + R"("]})";
  EXPECT_EQ(SignedGrantBytes(g), expected);
  EXPECT_TRUE(Verify(owner_.id(), expected, g.signature));
  EXPECT_TRUE(VerifyGrant(g, owner_.id()).ok());
  // The document adds the signature, in its sorted place.
  const std::string doc = GrantToJson(g);
  EXPECT_EQ(doc, expected.substr(0, expected.find(R"(,"type")")) + R"(,"signature":")" +
                     test::Hex(g.signature) + "\"" + expected.substr(expected.find(R"(,"type")")));
  EXPECT_EQ(*CanonicalizeJson(doc), doc);
}

TEST_F(SignedGrant, RoundTripsThroughItsDocument) {
  const Grant g = Issue(Spec());
  auto parsed = ParseGrant(GrantToJson(g));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, g);
  EXPECT_TRUE(VerifyGrant(*parsed, owner_.id()).ok());
  // The same document, pretty-printed and reordered, is the same grant.
  auto pretty = ParseGrant(Json::parse(GrantToJson(g)).dump(2));
  ASSERT_TRUE(pretty.ok()) << pretty.status().ToString();
  EXPECT_EQ(*pretty, g);
  EXPECT_TRUE(VerifyGrant(*pretty, owner_.id()).ok());

  // Without differential privacy and predicates, and with the default k_min.
  GrantSpec plain = Spec();
  plain.differential_privacy.reset();
  plain.predicates = {};
  plain.allowed_fields.clear();
  plain.purpose = Purpose::kOverlap;
  plain.output_kinds = {OutputKind::kOverlapSize};
  const Grant p = Issue(plain);
  EXPECT_EQ(p.spec.k_min, kDefaultKMin);
  EXPECT_EQ(SignedGrantBytes(p).find("differential_privacy"), std::string::npos);
  EXPECT_NE(SignedGrantBytes(p).find(R"("allowed_fields":[])"), std::string::npos);
  EXPECT_NE(SignedGrantBytes(p).find(R"("predicates":{})"), std::string::npos);
  auto back = ParseGrant(GrantToJson(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  EXPECT_TRUE(VerifyGrant(*back, owner_.id()).ok());
}

TEST_F(SignedGrant, IssuingSortsTheSets) {
  const Grant g = Issue(Spec());
  EXPECT_EQ(g.spec.allowed_fields, (std::vector<std::string>{"age_band", "region"}));
  EXPECT_EQ(g.spec.output_kinds,
            (std::vector<OutputKind>{OutputKind::kAudienceCount, OutputKind::kCellCounts}));
  EXPECT_EQ(g.spec.recipients, SortedCopy(std::vector<PartyId>{owner_.id(), partner_.id()}));
  EXPECT_EQ(g.spec.attestation_modes,
            (std::vector<AttestationMode>{AttestationMode::kSimulated, AttestationMode::kSgxDcap}));
}

TEST_F(SignedGrant, IssuingRefusesAnotherKeyABadIdOrABadSpec) {
  EXPECT_EQ(IssueGrant(Spec(), partner_, 0, "g_0123456789abcdef").status().code(),
            StatusCode::kInvalidArgument);
  for (const char* id :
       {"", "g_0123", "g_0123456789ABCDEF", "x_0123456789abcdef", "g_0123456789abcdef0"}) {
    EXPECT_EQ(IssueGrant(Spec(), owner_, 0, id).status().code(), StatusCode::kInvalidArgument)
        << id;
  }
  GrantSpec bad = Spec();
  bad.k_min = 1;
  auto refused = IssueGrant(bad, owner_, 0, "g_0123456789abcdef");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().TextDetail("field"), "k_min");
}

TEST_F(SignedGrant, VerificationFailsForAnyChangedField) {
  const Grant g = Issue(Spec());
  const std::vector<std::function<void(Grant&)>> changes = {
      [](Grant& x) { x.id = "g_0123456789abcdee"; },
      [](Grant& x) { x.spec.k_min = 99; },
      [](Grant& x) { x.spec.allowed_fields.push_back("tariff"); },
      [](Grant& x) { x.spec.output_kinds.pop_back(); },
      [](Grant& x) { x.spec.differential_privacy->epsilon_per_query_micro = 500001; },
      [](Grant& x) { x.spec.differential_privacy.reset(); },
      [](Grant& x) { x.spec.predicates.max_category_depth.reset(); },
      [](Grant& x) { x.spec.recipients.pop_back(); },
      [](Grant& x) { x.spec.attestation_modes = {AttestationMode::kSimulated}; },
      [](Grant& x) { x.spec.expires += 1; },
      [](Grant& x) { x.spec.not_before -= 1; },
      [](Grant& x) { x.created_at += 1; },
      [](Grant& x) { x.spec.purpose = Purpose::kActivation; },
      [&](Grant& x) { x.spec.grantee = KeyOf(9).id(); },
      [](Grant& x) { x.signature[0] ^= 0x80; },
      [](Grant& x) { x.signature[63] ^= 0x01; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    Grant changed = g;
    changes[i](changed);
    const Status s = VerifyGrant(changed, owner_.id());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "change " << i;
  }
  // Another grantor's key, and the grant claiming another grantor.
  EXPECT_EQ(VerifyGrant(g, partner_.id()).code(), StatusCode::kInvalidArgument);
  Grant claimed = g;
  claimed.spec.grantor = partner_.id();
  EXPECT_EQ(VerifyGrant(claimed, partner_.id()).code(), StatusCode::kInvalidArgument);
}

TEST_F(SignedGrant, AChangedDocumentParsesButDoesNotVerify) {
  const Grant g = Issue(Spec());
  Json doc = Json::parse(GrantToJson(g));
  doc["k_min"] = 2;
  auto parsed = ParseGrant(doc.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->spec.k_min, 2);
  const Status s = VerifyGrant(*parsed, owner_.id());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("signature"), std::string::npos);
}

struct BadDocument {
  const char* what;
  std::function<void(Json&)> change;
  const char* field;
  const char* reason;
};

TEST_F(SignedGrant, ParsingIsStrictAndNamesTheField) {
  const Grant g = Issue(Spec());
  const std::vector<BadDocument> cases = {
      {"unknown field", [](Json& j) { j["colour"] = "red"; }, "colour", "unknown field"},
      {"missing field", [](Json& j) { j.erase("k_min"); }, "k_min", "missing"},
      {"missing signature", [](Json& j) { j.erase("signature"); }, "signature", "missing"},
      {"k_min as text", [](Json& j) { j["k_min"] = "100"; }, "k_min", "must be an integer"},
      {"k_min 1", [](Json& j) { j["k_min"] = 1; }, "k_min", "from 2 to"},
      {"k_min negative", [](Json& j) { j["k_min"] = -5; }, "k_min", "from 2 to"},
      {"k_min too large", [](Json& j) { j["k_min"] = 2000000000; }, "k_min", "from 2 to"},
      {"k_min float", [](Json& j) { j["k_min"] = 100.0; }, "(document)", "fraction"},
      {"k_min above 2^53", [](Json& j) { j["k_min"] = uint64_t{1} << 60; }, "(document)", "2^53"},
      {"ε not shortest", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = "0.50"; },
       "differential_privacy.epsilon_per_query", "write it as \"0.5\""},
      {"ε zero", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = "0"; },
       "differential_privacy.epsilon_per_query", "above 0"},
      {"ε leading zero", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = "00.5"; },
       "differential_privacy.epsilon_per_query", "write it as \"0.5\""},
      {"ε too fine", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = "0.0000001"; },
       "differential_privacy.epsilon_per_query", "6 decimals"},
      {"ε as a number", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = 1; },
       "differential_privacy.epsilon_per_query", "must be a string"},
      {"ε as a float", [](Json& j) { j["differential_privacy"]["epsilon_per_query"] = 0.5; },
       "(document)", "fraction"},
      {"budget below ε", [](Json& j) { j["differential_privacy"]["budget_per_period"] = "0.25"; },
       "differential_privacy.budget_per_period", "at least epsilon_per_query"},
      {"period", [](Json& j) { j["differential_privacy"]["period"] = "week"; },
       "differential_privacy.period", "\"month\""},
      {"dp missing ε", [](Json& j) { j["differential_privacy"].erase("epsilon_per_query"); },
       "differential_privacy.epsilon_per_query", "missing"},
      {"dp unknown", [](Json& j) { j["differential_privacy"]["delta"] = "0.001"; },
       "differential_privacy.delta", "unknown field"},
      {"dp not an object", [](Json& j) { j["differential_privacy"] = true; },
       "differential_privacy", "must be an object"},
      {"purpose", [](Json& j) { j["purpose"] = "marketing"; }, "purpose", "unknown purpose"},
      {"output kind", [](Json& j) { j["output_kinds"].push_back("raw_rows"); }, "output_kinds",
       "unknown output kind"},
      {"activation list", [](Json& j) { j["output_kinds"].push_back("activation_list"); },
       "output_kinds", "activation only"},
      {"no output kind", [](Json& j) { j["output_kinds"] = Json::array(); }, "output_kinds",
       "names no output kind"},
      {"kind twice", [](Json& j) { j["output_kinds"].push_back("cell_counts"); }, "output_kinds",
       "twice"},
      {"attestation", [](Json& j) { j["attestation_modes"].push_back("tdx"); }, "attestation_modes",
       "unknown attestation mode"},
      {"attestation none", [](Json& j) { j["attestation_modes"].push_back("none"); },
       "attestation_modes", "\"none\" is no attestation mode"},
      {"no attestation", [](Json& j) { j["attestation_modes"] = Json::array(); },
       "attestation_modes", "names no mode"},
      {"expires = not_before", [](Json& j) { j["expires"] = j["not_before"]; }, "expires",
       "after not_before"},
      {"expires before", [](Json& j) { j["expires"] = "2025-01-01T00:00:00Z"; }, "expires",
       "after not_before"},
      {"not_before date only", [](Json& j) { j["not_before"] = "2026-01-05"; }, "not_before",
       "YYYY-MM-DDTHH:MM:SSZ"},
      {"created_at offset", [](Json& j) { j["created_at"] = "2026-01-05T09:30:00+01:00"; },
       "created_at", "YYYY-MM-DDTHH:MM:SSZ"},
      {"recipient id", [](Json& j) { j["recipients"].push_back("tp1:abc"); }, "recipients",
       "party id"},
      {"recipient twice", [](Json& j) { j["recipients"].push_back(j["recipients"][0]); },
       "recipients", "twice"},
      {"no recipient", [](Json& j) { j["recipients"] = Json::array(); }, "recipients",
       "names no party"},
      {"recipients not a list", [](Json& j) { j["recipients"] = "everyone"; }, "recipients",
       "list of strings"},
      {"no worker host", [](Json& j) { j["worker_hosts"] = Json::array(); }, "worker_hosts",
       "names no party"},
      {"grantee = grantor", [](Json& j) { j["grantee"] = j["grantor"]; }, "grantee",
       "another party"},
      {"grantor id", [](Json& j) { j["grantor"] = "tk1:00"; }, "grantor", "party id"},
      {"grant id", [](Json& j) { j["grant_id"] = "g_XYZ"; }, "grant_id", "16 lowercase hex"},
      {"type", [](Json& j) { j["type"] = "tessera.grant.v2"; }, "type", "tessera.grant.v1"},
      {"signature", [](Json& j) { j["signature"] = "00"; }, "signature", "128 lowercase hex"},
      {"predicate", [](Json& j) { j["predicates"]["colour"] = 1; }, "predicates.colour",
       "unknown predicate"},
      {"category depth", [](Json& j) { j["predicates"]["max_category_depth"] = 0; },
       "predicates.max_category_depth", "from 1 to 16"},
      {"breakdown", [](Json& j) { j["predicates"]["max_breakdown_attributes"] = 3; },
       "predicates.max_breakdown_attributes", "from 0 to 2"},
      {"predicates a list", [](Json& j) { j["predicates"] = Json::array(); }, "predicates",
       "must be an object"},
      {"field name", [](Json& j) { j["allowed_fields"].push_back("Age"); }, "allowed_fields",
       "not an attribute name"},
      {"field twice", [](Json& j) { j["allowed_fields"].push_back("region"); }, "allowed_fields",
       "twice"},
      {"field not text", [](Json& j) { j["allowed_fields"].push_back(3); }, "allowed_fields",
       "list of strings"},
      {"not an object", [](Json& j) { j = Json::array(); }, "(document)", "a JSON object"},
  };
  for (const BadDocument& c : cases) {
    Json doc = Json::parse(GrantToJson(g));
    c.change(doc);
    auto parsed = ParseGrant(doc.dump());
    ASSERT_FALSE(parsed.ok()) << c.what;
    const Status& s = parsed.status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_TRUE(s.message().starts_with(std::string("grant: ") + c.field))
        << c.what << ": " << s.message();
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << c.what << ": " << s.message();
    EXPECT_EQ(s.TextDetail("field"), c.field) << c.what;
  }
}

TEST_F(SignedGrant, ParsingRefusesBadDocuments) {
  const std::string doc = GrantToJson(Issue(Spec()));
  const std::string duplicated = "{\"k_min\":100," + doc.substr(1);
  for (const std::string& bad :
       {duplicated, std::string("{"), std::string(""), std::string("null"),
        doc + std::string(kMaxGrantBytes, ' '), doc.substr(0, doc.size() - 1)}) {
    auto parsed = ParseGrant(bad);
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad.substr(0, 60);
    EXPECT_EQ(parsed.status().TextDetail("field"), "(document)") << parsed.status().message();
  }
  EXPECT_NE(ParseGrant(duplicated).status().message().find("\"k_min\" appears twice"),
            std::string::npos);
}

// --- The strictest grant wins

class Combination : public ::testing::Test {
 protected:
  PartyKey owner1_ = KeyOf(1);
  PartyKey owner2_ = KeyOf(2);
  PartyKey partner_ = KeyOf(3);
  PartyKey worker_ = KeyOf(4);
  const int64_t t0_ = T("2026-01-05T00:00:00Z");
  int serial_ = 0;

  GrantSpec Spec(const PartyKey& owner) const {
    GrantSpec s{.grantor = owner.id(), .grantee = partner_.id()};
    s.purpose = Purpose::kAudienceCounts;
    s.allowed_fields = {"age_band", "region", "device"};
    s.output_kinds = {OutputKind::kAudienceCount, OutputKind::kCellCounts};
    s.recipients = {partner_.id(), owner.id()};
    s.worker_hosts = {worker_.id(), owner.id()};
    s.attestation_modes = {AttestationMode::kSimulated, AttestationMode::kSgxDcap};
    s.not_before = t0_;
    s.expires = t0_ + 180 * kDay;
    return s;
  }

  StoredGrant Stored(const GrantSpec& spec, const PartyKey& owner) {
    auto g = IssueGrant(spec, owner, t0_, fmt::format("g_{:016x}", ++serial_));
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return StoredGrant{std::move(*g), GrantDirection::kReceived, "2026-01-05T10:00:00Z",
                       std::nullopt};
  }

  PolicyRequest Request(int64_t now) const {
    return PolicyRequest{Purpose::kAudienceCounts, partner_.id(), now};
  }

  void ExpectRefused(const std::vector<StoredGrant>& grants, const PolicyRequest& request,
                     GrantRefusal reason, const std::string& grant_id) {
    auto p = CombineGrants(grants, request);
    ASSERT_FALSE(p.ok()) << GrantRefusalName(reason);
    EXPECT_EQ(p.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(p.status().TextDetail("reason"), std::string(GrantRefusalName(reason)))
        << p.status().message();
    EXPECT_EQ(p.status().TextDetail("grant_id").value_or(""), grant_id) << p.status().message();
  }
};

TEST_F(Combination, OneGrantIsItsOwnPolicy) {
  GrantSpec s = Spec(owner1_);
  s.differential_privacy = DpPolicy{500000, 3000000, "month"};
  s.predicates.max_category_depth = 3;
  const std::vector<StoredGrant> grants = {Stored(s, owner1_)};
  auto p = CombineGrants(grants, Request(t0_ + kDay));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->purpose, Purpose::kAudienceCounts);
  EXPECT_EQ(p->grant_ids, std::vector<std::string>{grants[0].grant.id});
  EXPECT_EQ(p->allowed_fields, (std::vector<std::string>{"age_band", "device", "region"}));
  EXPECT_EQ(p->output_kinds, SortedCopy(s.output_kinds));
  EXPECT_EQ(p->k_min, 100);
  EXPECT_EQ(p->differential_privacy, s.differential_privacy);
  EXPECT_EQ(p->predicates.max_category_depth, 3);
  EXPECT_FALSE(p->predicates.max_breakdown_attributes.has_value());
  EXPECT_EQ(p->recipients, SortedCopy(s.recipients));
  EXPECT_EQ(p->worker_hosts, SortedCopy(s.worker_hosts));
  EXPECT_EQ(p->attestation_modes, SortedCopy(s.attestation_modes));
  EXPECT_EQ(p->not_before, t0_);
  EXPECT_EQ(p->expires, t0_ + 180 * kDay);
}

TEST_F(Combination, TheStrictestGrantWinsOnEveryTerm) {
  GrantSpec a = Spec(owner1_);
  a.differential_privacy = DpPolicy{500000, 3000000, "month"};
  a.predicates.max_category_depth = 3;
  a.recipients = {partner_.id(), owner1_.id(), owner2_.id()};
  a.worker_hosts = {worker_.id(), owner1_.id()};

  GrantSpec b = Spec(owner2_);
  b.allowed_fields = {"region", "device", "tariff"};
  b.output_kinds = {OutputKind::kCellCounts};
  b.k_min = 250;
  b.differential_privacy = DpPolicy{250000, 5000000, "month"};
  b.predicates.max_breakdown_attributes = 1;
  b.recipients = {partner_.id(), owner2_.id()};
  b.worker_hosts = {worker_.id()};
  b.attestation_modes = {AttestationMode::kSgxDcap};
  b.not_before = t0_ + kDay;
  b.expires = t0_ + 90 * kDay;

  GrantSpec c = Spec(owner1_);
  c.allowed_fields = {"region", "device"};
  c.k_min = 150;
  c.predicates.max_category_depth = 2;
  c.recipients = {partner_.id()};
  c.worker_hosts = {worker_.id(), owner2_.id()};
  c.expires = t0_ + 120 * kDay;

  const std::vector<StoredGrant> grants = {Stored(a, owner1_), Stored(b, owner2_),
                                           Stored(c, owner1_)};
  auto p = CombineGrants(grants, Request(t0_ + 2 * kDay));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->grant_ids,
            (std::vector<std::string>{grants[0].grant.id, grants[1].grant.id, grants[2].grant.id}));
  EXPECT_EQ(p->allowed_fields, (std::vector<std::string>{"device", "region"}));
  EXPECT_EQ(p->output_kinds, std::vector<OutputKind>{OutputKind::kCellCounts});
  EXPECT_EQ(p->k_min, 250);
  ASSERT_TRUE(p->differential_privacy.has_value());
  EXPECT_EQ(p->differential_privacy->epsilon_per_query_micro, 250000);
  EXPECT_EQ(p->differential_privacy->budget_per_period_micro, 3000000);
  EXPECT_EQ(p->differential_privacy->period, "month");
  EXPECT_EQ(p->predicates.max_category_depth, 2);
  EXPECT_EQ(p->predicates.max_breakdown_attributes, 1);
  EXPECT_EQ(p->recipients, std::vector<PartyId>{partner_.id()});
  EXPECT_EQ(p->worker_hosts, std::vector<PartyId>{worker_.id()});
  EXPECT_EQ(p->attestation_modes, std::vector<AttestationMode>{AttestationMode::kSgxDcap});
  EXPECT_EQ(p->not_before, t0_ + kDay);
  EXPECT_EQ(p->expires, t0_ + 90 * kDay);

  // The order of the grants changes nothing but the order of their ids.
  std::vector<StoredGrant> reversed(grants.rbegin(), grants.rend());
  auto q = CombineGrants(reversed, Request(t0_ + 2 * kDay));
  ASSERT_TRUE(q.ok());
  std::vector<std::string> ids = q->grant_ids;
  std::reverse(ids.begin(), ids.end());
  EXPECT_EQ(ids, p->grant_ids);
  q->grant_ids = p->grant_ids;
  EXPECT_EQ(*q, *p);
  // The same input, the same answer.
  EXPECT_EQ(*CombineGrants(grants, Request(t0_ + 2 * kDay)), *p);
}

TEST_F(Combination, NoiseIsAskedForWhenAnyGrantAsksForIt) {
  GrantSpec quiet = Spec(owner1_);
  GrantSpec noisy = Spec(owner2_);
  noisy.differential_privacy = DpPolicy{1000000, 2000000, "month"};
  auto none = CombineGrants(std::vector<StoredGrant>{Stored(quiet, owner1_)}, Request(t0_));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->differential_privacy.has_value());
  auto some = CombineGrants(
      std::vector<StoredGrant>{Stored(quiet, owner1_), Stored(noisy, owner2_)}, Request(t0_));
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->differential_privacy, noisy.differential_privacy);
}

TEST_F(Combination, RefusesWithoutGrants) {
  ExpectRefused({}, Request(t0_), GrantRefusal::kNoGrant, "");
}

TEST_F(Combination, RefusesARevokedGrant) {
  std::vector<StoredGrant> grants = {Stored(Spec(owner1_), owner1_),
                                     Stored(Spec(owner2_), owner2_)};
  grants[1].revocation = GrantRevocation{"2026-01-06T00:00:00Z", "partner left"};
  ExpectRefused(grants, Request(t0_ + kDay), GrantRefusal::kRevoked, grants[1].grant.id);
}

TEST_F(Combination, RefusesAGrantForAnotherPartner) {
  GrantSpec other = Spec(owner2_);
  other.grantee = worker_.id();
  const std::vector<StoredGrant> grants = {Stored(Spec(owner1_), owner1_), Stored(other, owner2_)};
  ExpectRefused(grants, Request(t0_ + kDay), GrantRefusal::kWrongGrantee, grants[1].grant.id);
}

TEST_F(Combination, RefusesAGrantForAnotherPurpose) {
  const std::vector<StoredGrant> grants = {Stored(Spec(owner1_), owner1_)};
  for (Purpose other : {Purpose::kOverlap, Purpose::kActivation, Purpose::kCampaignMeasurement}) {
    PolicyRequest r = Request(t0_ + kDay);
    r.purpose = other;
    ExpectRefused(grants, r, GrantRefusal::kPurposeNotAllowed, grants[0].grant.id);
  }
}

TEST_F(Combination, HonoursValidityToTheSecond) {
  const std::vector<StoredGrant> grants = {Stored(Spec(owner1_), owner1_)};
  const std::string& id = grants[0].grant.id;
  ExpectRefused(grants, Request(t0_ - 1), GrantRefusal::kNotYetValid, id);
  EXPECT_TRUE(CombineGrants(grants, Request(t0_)).ok());
  EXPECT_TRUE(CombineGrants(grants, Request(t0_ + 180 * kDay - 1)).ok());
  ExpectRefused(grants, Request(t0_ + 180 * kDay), GrantRefusal::kExpired, id);
  ExpectRefused(grants, Request(t0_ + 10000 * kDay), GrantRefusal::kExpired, id);
}

TEST_F(Combination, NamesTheFirstGrantThatFailsAndItsFirstReason) {
  std::vector<StoredGrant> grants = {Stored(Spec(owner1_), owner1_), Stored(Spec(owner2_), owner2_),
                                     Stored(Spec(owner1_), owner1_)};
  // The second is expired and revoked, the third for another purpose: the second, revoked.
  grants[1].grant.spec.expires = t0_ + 1;
  grants[1].revocation = GrantRevocation{"2026-01-05T00:00:01Z", ""};
  grants[2].grant.spec.purpose = Purpose::kOverlap;
  ExpectRefused(grants, Request(t0_ + kDay), GrantRefusal::kRevoked, grants[1].grant.id);
  grants[1].revocation.reset();
  ExpectRefused(grants, Request(t0_ + kDay), GrantRefusal::kExpired, grants[1].grant.id);
  grants[1].grant.spec.expires = t0_ + 180 * kDay;
  ExpectRefused(grants, Request(t0_ + kDay), GrantRefusal::kPurposeNotAllowed, grants[2].grant.id);
}

TEST_F(Combination, RefusesEmptyIntersections) {
  struct Case {
    GrantRefusal reason;
    std::function<void(GrantSpec&)> narrow;
  };
  const std::vector<Case> cases = {
      {GrantRefusal::kNoCommonFields, [](GrantSpec& s) { s.allowed_fields = {"tariff"}; }},
      {GrantRefusal::kNoCommonFields, [](GrantSpec& s) { s.allowed_fields.clear(); }},
      {GrantRefusal::kNoCommonOutputKinds,
       [](GrantSpec& s) { s.output_kinds = {OutputKind::kOverlapSize}; }},
      {GrantRefusal::kNoCommonRecipients, [&](GrantSpec& s) { s.recipients = {owner2_.id()}; }},
      {GrantRefusal::kNoCommonWorkerHosts, [&](GrantSpec& s) { s.worker_hosts = {owner2_.id()}; }},
      {GrantRefusal::kNoCommonAttestationModes,
       [](GrantSpec& s) { s.attestation_modes = {AttestationMode::kSimulated}; }},
  };
  GrantSpec first = Spec(owner1_);
  first.attestation_modes = {AttestationMode::kSgxDcap};
  for (const Case& c : cases) {
    GrantSpec second = Spec(owner2_);
    c.narrow(second);
    const std::vector<StoredGrant> grants = {Stored(first, owner1_), Stored(second, owner2_)};
    ExpectRefused(grants, Request(t0_ + kDay), c.reason, "");
  }
}

TEST_F(Combination, AnOverlapNeedsNoFields) {
  GrantSpec a = Spec(owner1_);
  a.purpose = Purpose::kOverlap;
  a.allowed_fields.clear();
  a.output_kinds = {OutputKind::kOverlapSize};
  const std::vector<StoredGrant> grants = {Stored(a, owner1_)};
  PolicyRequest r = Request(t0_ + kDay);
  r.purpose = Purpose::kOverlap;
  auto p = CombineGrants(grants, r);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->allowed_fields.empty());
  EXPECT_EQ(p->output_kinds, std::vector<OutputKind>{OutputKind::kOverlapSize});
}

TEST_F(Combination, RefusalNamesAreStable) {
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoGrant), "no_grant");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kRevoked), "revoked");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kWrongGrantee), "wrong_grantee");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kPurposeNotAllowed), "purpose_not_allowed");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNotYetValid), "not_yet_valid");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kExpired), "expired");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoCommonFields), "no_common_fields");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoCommonOutputKinds), "no_common_output_kinds");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoCommonRecipients), "no_common_recipients");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoCommonWorkerHosts), "no_common_worker_hosts");
  EXPECT_EQ(GrantRefusalName(GrantRefusal::kNoCommonAttestationModes),
            "no_common_attestation_modes");
}

// --- The grant store, on both stores

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class GrantStoreTest : public store::StoreFixture {
 protected:
  void SetUp() override { OpenNewStore("grants.db", &GrantStore::Schema()); }
  GrantStore Grants() { return GrantStore(store_->db()); }

  PartyKey self_ = KeyOf(11);
  PartyKey owner_ = KeyOf(12);
  PartyKey analyst_ = KeyOf(13);

  GrantSpec Spec(const PartyKey& grantor, const PartyKey& grantee) const {
    GrantSpec s{.grantor = grantor.id(), .grantee = grantee.id()};
    s.purpose = Purpose::kAudienceCounts;
    s.allowed_fields = {"age_band", "region"};
    s.output_kinds = {OutputKind::kCellCounts};
    s.differential_privacy = DpPolicy{500000, 3000000, "month"};
    s.recipients = {grantee.id()};
    s.worker_hosts = {grantor.id()};
    s.attestation_modes = {AttestationMode::kSimulated};
    s.not_before = Now() - kDay;
    s.expires = Now() + 30 * kDay;
    return s;
  }

  Collaboration Collab() const {
    return Collaboration{{
        {"Us", self_.id(), "https://us.example", {PartyRole::kAnalyst}, 1},
        {"Grocer", owner_.id(), "https://grocer.example", {PartyRole::kDataOwner}, 6},
        {"Agency", analyst_.id(), "https://agency.example", {PartyRole::kAnalyst}, 11},
    }};
  }

  // A grant `owner_` issued to this party, as it arrives.
  std::string Received(const std::string& id = "g_00000000000000a1") const {
    auto g = IssueGrant(Spec(owner_, self_), owner_, Now(), id);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return GrantToJson(*g);
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, GrantStoreTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         store::BackendName);

TEST_P(GrantStoreTest, CreatesListsShowsAndRevokes) {
  auto made = Grants().Create(Spec(self_, analyst_), self_);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(made->id.starts_with("g_"));
  EXPECT_EQ(made->id.size(), 18u);
  EXPECT_LE(std::abs(made->created_at - Now()), 5);
  EXPECT_TRUE(VerifyGrant(*made, self_.id()).ok());

  auto second = Grants().Create(Spec(self_, owner_), self_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(second->id, made->id);

  auto all = Grants().List();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].grant, *made);
  EXPECT_EQ((*all)[0].direction, GrantDirection::kIssued);
  EXPECT_EQ((*all)[0].stored_at.size(), 20u);
  EXPECT_FALSE((*all)[0].revocation.has_value());
  EXPECT_EQ((*all)[1].grant, *second);

  auto shown = Grants().Show(made->id);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->grant, *made);

  auto revoked = Grants().Revoke(made->id, "campaign cancelled");
  ASSERT_TRUE(revoked.ok()) << revoked.status().ToString();
  EXPECT_TRUE(*revoked);
  auto again = Grants().Revoke(made->id, "another reason");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);

  // A revoked grant stays listed, as revoked, with its first reason.
  all = Grants().List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  ASSERT_TRUE((*all)[0].revocation.has_value());
  EXPECT_EQ((*all)[0].revocation->reason, "campaign cancelled");
  EXPECT_EQ((*all)[0].revocation->revoked_at.size(), 20u);
  EXPECT_FALSE((*all)[1].revocation.has_value());
  // And combining it is refused.
  auto combined = CombineGrants(std::span<const StoredGrant>(all->data(), 1),
                                PolicyRequest{Purpose::kAudienceCounts, analyst_.id(), Now()});
  EXPECT_EQ(combined.status().TextDetail("reason"), "revoked");
}

TEST_P(GrantStoreTest, RefusesUnknownIdsAndBadReasons) {
  EXPECT_EQ(Grants().Show("g_0000000000000000").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Grants().Show("no such grant").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Grants().Revoke("g_0000000000000000", "x").status().code(), StatusCode::kNotFound);
  auto made = Grants().Create(Spec(self_, analyst_), self_);
  ASSERT_TRUE(made.ok());
  for (const std::string& reason :
       {std::string(201, 'x'), std::string("line\nbreak"), std::string("bad \xff")}) {
    EXPECT_EQ(Grants().Revoke(made->id, reason).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(*Grants().Revoke(made->id, ""));
}

TEST_P(GrantStoreTest, CreateRefusesAnotherKeyAndThePast) {
  EXPECT_EQ(Grants().Create(Spec(owner_, analyst_), self_).status().code(),
            StatusCode::kInvalidArgument);
  GrantSpec past = Spec(self_, analyst_);
  past.not_before = Now() - 10 * kDay;
  past.expires = Now() - kDay;
  auto refused = Grants().Create(past, self_);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().TextDetail("field"), "expires");
  EXPECT_TRUE(Grants().List()->empty());
}

TEST_P(GrantStoreTest, ImportsAVerifiedGrantOnce) {
  const std::string doc = Received();
  auto stored = Grants().Import(doc, Collab(), self_.id());
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->direction, GrantDirection::kReceived);
  EXPECT_EQ(GrantToJson(stored->grant), doc);
  // Again: the same, stored once.
  auto again = Grants().Import(doc, Collab(), self_.id());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->grant, stored->grant);
  EXPECT_EQ(Grants().List()->size(), 1u);
  // Another grant under the same id is refused.
  GrantSpec other = Spec(owner_, self_);
  other.k_min = 500;
  auto g = IssueGrant(other, owner_, Now(), stored->grant.id);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(Grants().Import(GrantToJson(*g), Collab(), self_.id()).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_P(GrantStoreTest, ImportRefusesWhatItCannotTrust) {
  // A changed field: the signature no longer verifies.
  Json tampered = Json::parse(Received());
  tampered["k_min"] = 2;
  EXPECT_EQ(Grants().Import(tampered.dump(), Collab(), self_.id()).status().code(),
            StatusCode::kInvalidArgument);
  // Addressed to another party.
  auto to_other = IssueGrant(Spec(owner_, analyst_), owner_, Now(), "g_00000000000000b1");
  ASSERT_TRUE(to_other.ok());
  EXPECT_EQ(Grants().Import(GrantToJson(*to_other), Collab(), self_.id()).status().code(),
            StatusCode::kInvalidArgument);
  // Issued by this party itself.
  auto own = IssueGrant(Spec(self_, owner_), self_, Now(), "g_00000000000000b2");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(Grants().Import(GrantToJson(*own), Collab(), self_.id()).status().code(),
            StatusCode::kInvalidArgument);
  // From a party the collaboration file does not know, or knows as no data owner.
  const PartyKey stranger = KeyOf(14);
  auto unknown = IssueGrant(Spec(stranger, self_), stranger, Now(), "g_00000000000000b3");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(Grants().Import(GrantToJson(*unknown), Collab(), self_.id()).status().code(),
            StatusCode::kFailedPrecondition);
  auto not_owner = IssueGrant(Spec(analyst_, self_), analyst_, Now(), "g_00000000000000b4");
  ASSERT_TRUE(not_owner.ok());
  EXPECT_EQ(Grants().Import(GrantToJson(*not_owner), Collab(), self_.id()).status().code(),
            StatusCode::kFailedPrecondition);
  // A grant whose grantor field was swapped for a known data owner's: not that owner's
  // signature.
  Json forged = Json::parse(GrantToJson(*unknown));
  forged["grantor"] = owner_.id().ToString();
  EXPECT_EQ(Grants().Import(forged.dump(), Collab(), self_.id()).status().code(),
            StatusCode::kInvalidArgument);
  // Malformed documents.
  EXPECT_EQ(Grants().Import("{}", Collab(), self_.id()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(Grants().List()->empty());
}

TEST_P(GrantStoreTest, ADamagedRowIsDataLoss) {
  auto made = Grants().Create(Spec(self_, analyst_), self_);
  ASSERT_TRUE(made.ok());
  auto changed = store_->db().Execute(
      "UPDATE collab_grants SET signed_json = replace(signed_json, '\"k_min\":100', "
      "'\"k_min\":101')");
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  ASSERT_EQ(*changed, 1u);
  EXPECT_EQ(Grants().List().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(Grants().Show(made->id).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tessera::collab
