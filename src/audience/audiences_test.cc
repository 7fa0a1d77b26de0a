// Saved audiences, the export policy, exports, attribute imports (both stores) and the match
// round trip: generated orders with e-mails -> store -> audience -> export -> the CRM rows.

#include "tessera/audience/audiences.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "audience/test_support.h"
#include "tessera/audience/activation.h"
#include "tessera/audience/expression.h"
#include "tessera/io/row_source.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::audience {
namespace {

using store::Backend;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

class AudiencesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    dir_ = testing::TestDir();
    csv_ = testing::GenerateCsv(dir_, 800, 30, 17);
    const std::string location = GetParam() == Backend::kSqlite
                                     ? (dir_ / "store.db").string()
                                     : stores_.NewLocation(Backend::kPostgres, "audiences");
    store_ = testing::LoadAndSnapshot(location, csv_);
    ASSERT_NE(store_, nullptr);
    Rebuild();
    ASSERT_TRUE(store_
                    ->ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
                      if (uuids_.size() <= i) uuids_.resize(i + 1);
                      uuids_[i] = u;
                    })
                    .ok());
  }
  void Rebuild() {
    auto index = BuildIndex(*store_);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(*index);
  }
  // The expected members' pseudonyms, straight from the index.
  std::set<std::string> Members(const std::string& expression) {
    auto e = Expression::Parse(expression, index_);
    EXPECT_TRUE(e.ok()) << e.status().message();
    std::set<std::string> out;
    for (uint32_t c : e->Evaluate().ToVector()) out.insert(uuids_[c].ToString());
    return out;
  }
  // Exports to a file; returns the file's lines.
  StatusOr<std::vector<std::string>> Export(const std::string& name_or_expression,
                                            const std::string& file) {
    auto resolved = ResolveAudience(*store_, name_or_expression);
    if (!resolved.ok()) return resolved.status();
    std::FILE* out = std::fopen((dir_ / file).c_str(), "wb");
    auto size = ExportAudience(*store_, index_, *resolved, out);
    std::fclose(out);
    if (!size.ok()) return size.status();
    return Lines(ReadFile((dir_ / file).string()));
  }

  store::TestStores stores_;
  std::filesystem::path dir_;
  std::string csv_;
  std::unique_ptr<store::Store> store_;
  AudienceIndex index_;
  std::vector<privacy::Uuid> uuids_;
};

INSTANTIATE_TEST_SUITE_P(Backends, AudiencesTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

TEST_P(AudiencesTest, SavesListsUpdatesAndKeepsTheSizeHistory) {
  const std::string vips = "segment in ['champions', 'loyal']";
  auto size = SaveAudience(*store_, index_, "vips", vips, false);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, Members(vips).size());
  EXPECT_EQ(SaveAudience(*store_, index_, "vips", "clv > 1", false).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(
      SaveAudience(*store_, index_, "bad", "clvv > 1", false).status().message().substr(0, 35),
      "column 1: unknown field 'clvv' (did");
  EXPECT_EQ(audience::AudienceStore(*store_).History("bad")->size(), 0u);  // nothing saved
  EXPECT_EQ(SaveAudience(*store_, index_, " padded", "clv > 1", false).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(SaveAudience(*store_, index_, "vips", vips + " and clv > 100", true).ok());
  auto listings = ListAudiences(*store_, index_);
  ASSERT_TRUE(listings.ok());
  ASSERT_EQ(listings->size(), 1u);
  EXPECT_EQ((*listings)[0].size, Members(vips + " and clv > 100").size());
  auto history = audience::AudienceStore(*store_).History("vips");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].size, Members(vips).size());
  EXPECT_EQ((*history)[1].expression, vips + " and clv > 100");
  EXPECT_NE(ListingsToTable(*listings).find("vips"), std::string::npos);
  EXPECT_NE(HistoryToJson(*history).find("\"event\":\"updated\""), std::string::npos);
}

TEST_P(AudiencesTest, ExportsPseudonymsOnlyFromTheMinimumSizeTheOwnerSets) {
  const std::string small = "segment = 'champions' and orders >= 4";
  const size_t n = Members(small).size();
  ASSERT_GT(n, 3u);
  ASSERT_LT(n, 100u);
  ASSERT_TRUE(SaveAudience(*store_, index_, "small", small, false).ok());
  auto refused = Export("small", "small.csv");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(fmt::format("has {} customers", n)), std::string::npos);
  EXPECT_EQ(ReadFile((dir_ / "small.csv").string()), "");  // nothing written
  EXPECT_EQ(*MinExportSize(*store_), kDefaultMinExportSize);

  // Only the owner's key may lower it.
  std::array<uint8_t, 32> other;
  other.fill(8);
  EXPECT_EQ(SetMinExportSize(*store_, privacy::OwnerKey::FromBytes(other), 3).code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(SetMinExportSize(*store_, testing::TestKey(), 3).ok());
  EXPECT_EQ(*MinExportSize(*store_), 3u);

  auto lines = Export("small", "small.csv");
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), n + 1);
  EXPECT_EQ((*lines)[0], "uuid");
  EXPECT_EQ(std::set<std::string>(lines->begin() + 1, lines->end()), Members(small));
  auto history = audience::AudienceStore(*store_).History("small");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->back().event, "exported");
  EXPECT_EQ(history->back().size, n);

  // An expression given directly exports the same way, without a history.
  auto direct = Export(small, "direct.csv");
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(*direct, *lines);
  EXPECT_EQ(Export("clv >", "bad.csv").status().message(),
            "column 6: expected a number, found end of expression");
}

TEST_P(AudiencesTest, AttachedAttributesBecomeFieldsAfterTheIndexIsRebuilt) {
  const std::string path = (dir_ / "attributes.csv").string();
  std::ofstream(path) << "uuid,name,value\n"
                      << uuids_[0].ToString() << ",tier,gold\n"
                      << uuids_[1].ToString() << ",Tier,silver\n"
                      << uuids_[2].ToString() << ",tier,gold\n"
                      << "00000000-0000-8000-8000-000000000000,tier,gold\n"
                      << "not-a-uuid,tier,gold\n";
  auto stamp = IndexStamp(*store_);
  auto result = ImportAttributes(*store_, path);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->rows, 5u);
  EXPECT_EQ(result->attached, 3u);
  EXPECT_EQ(result->unknown_customers, 1u);
  ASSERT_EQ(result->errors.size(), 1u);
  EXPECT_EQ(result->errors[0], "line 6: uuid is not a UUID");
  EXPECT_NE(*IndexStamp(*store_), *stamp);  // the kept index is stale now
  Rebuild();
  EXPECT_EQ(Members("tier = 'gold'").size(), 2u);
  EXPECT_EQ(Members("tier in ['gold', 'silver']").size(), 3u);

  std::ofstream(path) << "uuid,name,value\n" << uuids_[0].ToString() << ",region,north\n";
  EXPECT_EQ(ImportAttributes(*store_, path).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(AudiencesTest, MatchTurnsAnExportBackIntoTheOwnersCrmRowsAndHashedEmails) {
  ASSERT_TRUE(SetMinExportSize(*store_, testing::TestKey(), 1).ok());
  const std::string expression = "bought('Food') and segment in ['champions', 'loyal']";
  auto lines = Export(expression, "audience.csv");
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  const std::set<std::string> members(lines->begin() + 1, lines->end());
  ASSERT_GT(members.size(), 20u);
  auto mapping = io::LoadMapping("generic");
  ASSERT_TRUE(mapping.ok());
  const std::string audience_path = (dir_ / "audience.csv").string();

  // rows: the CRM file's own rows (here the order export itself serves as the CRM file).
  std::FILE* out = std::fopen((dir_ / "rows.csv").c_str(), "wb");
  auto summary =
      MatchAudience(testing::TestKey(), csv_, *mapping, audience_path, MatchFormat::kRows, out);
  std::fclose(out);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->audience_size, members.size());
  EXPECT_EQ(summary->matched_customers, members.size());  // every member is in the CRM file
  EXPECT_EQ(summary->written, summary->matched_rows);
  // Every row written belongs to a member: pseudonymize it again, independently.
  auto p = privacy::Pseudonymizer::Create(testing::TestKey());
  ASSERT_TRUE(p.ok());
  io::SourceOptions options;
  auto rows = io::RowSource::Open((dir_ / "rows.csv").string(), options);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ((*rows)->columns().front(), "order_id");
  ASSERT_TRUE((*rows)->Select({"customer_id", "email"}).ok());
  io::Row row;
  io::RowError error;
  bool ok = true;
  uint64_t n = 0;
  std::set<std::string> emails;
  while ((*rows)->Next(&row, &error, &ok)) {
    ASSERT_TRUE(ok);
    ++n;
    const bool by_id = !row.fields[0].empty();
    const auto kind =
        by_id ? privacy::IdentifierKind::kCustomerNumber : privacy::IdentifierKind::kEmail;
    auto normalized = privacy::NormalizeIdentifier(kind, by_id ? row.fields[0] : row.fields[1]);
    ASSERT_TRUE(normalized.ok());
    EXPECT_TRUE(members.count(p->Pseudonym(kind, *normalized).ToString()));
    emails.insert(*privacy::NormalizeEmail(row.fields[1]));
  }
  EXPECT_EQ(n, summary->matched_rows);

  // google / meta: the SHA-256 of each matched customer's normalized e-mail, once each.
  for (const auto format : {MatchFormat::kGoogle, MatchFormat::kMeta}) {
    std::FILE* h = std::fopen((dir_ / "hashed.csv").c_str(), "wb");
    auto hashed = MatchAudience(testing::TestKey(), csv_, *mapping, audience_path, format, h);
    std::fclose(h);
    ASSERT_TRUE(hashed.ok()) << hashed.status().ToString();
    const auto hash_lines = Lines(ReadFile((dir_ / "hashed.csv").string()));
    EXPECT_EQ(hash_lines[0], format == MatchFormat::kGoogle ? "Email" : "email");
    std::set<std::string> expected;
    for (const auto& e : emails) expected.insert(Sha256Hex(*PlatformEmail(format, e)));
    EXPECT_EQ(std::set<std::string>(hash_lines.begin() + 1, hash_lines.end()), expected);
    EXPECT_EQ(hash_lines.size() - 1, expected.size());
  }
}

TEST(Sha256Hex, MatchesTheStandardTestVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Known answers: the platforms' own examples, and SHA-256 computed apart (sha256sum).
TEST(PlatformEmail, GoogleRemovesTheDotsOfGmailAddressesAndMetaDoesNot) {
  // Google Ads API, "Normalize and hash user-provided data"
  // (https://developers.google.com/google-ads/api/docs/conversions/upload-online): trim, lower
  // case, and remove the periods before the domain of gmail.com and googlemail.com addresses;
  // the example of issue 16.
  EXPECT_EQ(*PlatformEmail(MatchFormat::kGoogle, " Jane.Doe@GMail.com "), "janedoe@gmail.com");
  EXPECT_EQ(Sha256Hex(*PlatformEmail(MatchFormat::kGoogle, "Jane.Doe@GMail.com")),
            "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69");
  EXPECT_EQ(*PlatformEmail(MatchFormat::kGoogle, "j.a.n.e@googlemail.com"), "jane@googlemail.com");
  EXPECT_EQ(*PlatformEmail(MatchFormat::kGoogle, "Jane.Doe@Example.com"), "jane.doe@example.com");
  EXPECT_EQ(*PlatformEmail(MatchFormat::kGoogle, "jane.doe@mail.gmail.com"),
            "jane.doe@mail.gmail.com");
  // Meta, Customer Information Parameters (https://developers.facebook.com/docs/marketing-api/
  // conversions-api/parameters/customer-information-parameters), em: "John_Smith@gmail.com" is
  // "john_smith@gmail.com", SHA-256 62a14e44...; no dot is removed.
  EXPECT_EQ(Sha256Hex(*PlatformEmail(MatchFormat::kMeta, "John_Smith@gmail.com")),
            "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f");
  EXPECT_EQ(*PlatformEmail(MatchFormat::kMeta, "Jane.Doe@GMail.com"), "jane.doe@gmail.com");
  EXPECT_EQ(Sha256Hex(*PlatformEmail(MatchFormat::kMeta, "Jane.Doe@GMail.com")),
            "831f6494ad6be4fcb3a724c3d5fef22d3ceffa3c62ef3a7984e45a0ea177f982");
  EXPECT_FALSE(PlatformEmail(MatchFormat::kGoogle, "not an address").ok());
}

TEST(PlatformPhone, GoogleWantsE164AndMetaItsDigits) {
  // Meta's example (same page), ph: "1 (650) 555-1212" is "16505551212", SHA-256 e323ec62...
  EXPECT_EQ(*PlatformPhone(MatchFormat::kMeta, "+1 (650) 555-1212", {}), "16505551212");
  EXPECT_EQ(Sha256Hex(*PlatformPhone(MatchFormat::kMeta, "+1 (650) 555-1212", {})),
            "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176");
  // Google: E.164 with its '+' (Customer Match formatting guidelines).
  EXPECT_EQ(*PlatformPhone(MatchFormat::kGoogle, "+1 (650) 555-1212", {}), "+16505551212");
  EXPECT_EQ(Sha256Hex(*PlatformPhone(MatchFormat::kGoogle, "+1 (650) 555-1212", {})),
            "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8");
  privacy::PhoneDefaults germany;
  germany.country = *io::FindPhoneCountry("DE");
  EXPECT_EQ(*PlatformPhone(MatchFormat::kGoogle, "030 123456", germany), "+4930123456");
  EXPECT_FALSE(PlatformPhone(MatchFormat::kGoogle, "030 123456", {}).ok());
}

TEST(GoogleName, TrimsLowerCasesAndJoinsBlanks) {
  EXPECT_EQ(GoogleName("  Mary \t  Ann "), "mary ann");
  EXPECT_EQ(Sha256Hex(GoogleName(" DOE")),
            "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f");
  EXPECT_EQ(GoogleName("   "), "");
}

TEST(MatchAudience, GoogleGetsItsFullColumnSetWhereTheCrmFileHasIt) {
  const auto dir = testing::TestDir();
  std::ofstream(dir / "crm.csv")
      << "customer_id,email,phone,first_name,last_name,country,zip\n"
      << "K1,Jane.Doe@GMail.com,030 123456,Mary  Ann,DOE,de,10115\n"
      << "K2,not an address,+1 (650) 555-1212,Max,Muster,Germany,80331\n"  // no ISO country
      << "K3,,,,,,\n"                                                      // nothing usable
      << "K4,kim@example.com,,Kim,Lee,kr,04524\n"
      << "K9,out@example.com,,Out,Side,de,10115\n";  // not in the audience
  auto p = privacy::Pseudonymizer::Create(testing::TestKey());
  ASSERT_TRUE(p.ok());
  std::ofstream audience(dir / "audience.csv");
  audience << "uuid\n";
  for (const char* id : {"K1", "K2", "K3", "K4"}) {
    audience << p->Pseudonym(privacy::IdentifierKind::kCustomerNumber, id).ToString() << "\n";
  }
  audience.close();
  io::Mapping mapping = *io::LoadMapping("generic");
  mapping.default_phone_country = *io::FindPhoneCountry("DE");
  const auto run = [&](MatchFormat format) {
    std::FILE* out = std::fopen((dir / "out.csv").c_str(), "wb");
    auto summary = MatchAudience(testing::TestKey(), (dir / "crm.csv").string(), mapping,
                                 (dir / "audience.csv").string(), format, out);
    std::fclose(out);
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return std::make_pair(summary.ok() ? *summary : MatchSummary(),
                          Lines(ReadFile((dir / "out.csv").string())));
  };
  const auto [google, g] = run(MatchFormat::kGoogle);
  EXPECT_EQ(google.matched_rows, 4u);
  EXPECT_EQ(google.without_email, 1u);  // K3
  EXPECT_EQ(google.written, 3u);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(g[0], "Email,Phone,First Name,Last Name,Country,Zip");
  EXPECT_EQ(g[1], Sha256Hex("janedoe@gmail.com") + "," + Sha256Hex("+4930123456") + "," +
                      Sha256Hex("mary ann") + "," + Sha256Hex("doe") + ",DE,10115");
  EXPECT_EQ(g[2], "," + Sha256Hex("+16505551212") + ",,,,");
  EXPECT_EQ(g[3], Sha256Hex("kim@example.com") + ",," + Sha256Hex("kim") + "," + Sha256Hex("lee") +
                      ",KR,04524");
  // Meta: its own rule on the e-mail alone, the dots kept.
  const auto [meta, m] = run(MatchFormat::kMeta);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], "email");
  EXPECT_EQ(m[1], Sha256Hex("jane.doe@gmail.com"));
  EXPECT_EQ(m[2], Sha256Hex("kim@example.com"));
  EXPECT_EQ(meta.without_email, 2u);
}

TEST(MatchAudience, EmailToolsGetTheOwnersContactsInTheirImportColumns) {
  const auto dir = testing::TestDir();
  std::ofstream(dir / "crm.csv")
      << "customer_id,email,phone,first_name,last_name\n"
      << "K1, Jane.Doe@Example.com ,030 123456,\"Mary, Ann\",Doe\n"
      << "K1,jane.doe@example.com,030 123456,\"Mary, Ann\",Doe\n"  // the same contact again
      << "K2,,+1 (650) 555-1212,Max,Muster\n"                      // a phone only
      << "K3,not an address,,Kim,Lee\n"                            // nothing usable
      << "K9,out@example.com,,Out,Side\n";                         // not in the audience
  auto p = privacy::Pseudonymizer::Create(testing::TestKey());
  ASSERT_TRUE(p.ok());
  std::ofstream audience(dir / "audience.csv");
  audience << "uuid\n";
  for (const char* id : {"K1", "K2", "K3"}) {
    audience << p->Pseudonym(privacy::IdentifierKind::kCustomerNumber, id).ToString() << "\n";
  }
  audience.close();
  io::Mapping mapping = *io::LoadMapping("generic");
  mapping.default_phone_country = *io::FindPhoneCountry("DE");
  const auto run = [&](MatchFormat format) {
    std::FILE* out = std::fopen((dir / "out.csv").c_str(), "wb");
    auto summary = MatchAudience(testing::TestKey(), (dir / "crm.csv").string(), mapping,
                                 (dir / "audience.csv").string(), format, out);
    std::fclose(out);
    EXPECT_TRUE(summary.ok()) << summary.status().ToString();
    return std::make_pair(summary.ok() ? *summary : MatchSummary(),
                          Lines(ReadFile((dir / "out.csv").string())));
  };
  EXPECT_EQ(*ParseMatchFormat("klaviyo"), MatchFormat::kKlaviyo);
  EXPECT_EQ(*ParseMatchFormat("mailchimp"), MatchFormat::kMailchimp);
  EXPECT_EQ(*ParseMatchFormat("brevo"), MatchFormat::kBrevo);
  EXPECT_NE(ParseMatchFormat("hubspot").status().message().find("klaviyo, mailchimp or brevo"),
            std::string::npos);

  const auto [klaviyo, k] = run(MatchFormat::kKlaviyo);
  EXPECT_EQ(klaviyo.matched_rows, 4u);
  EXPECT_EQ(klaviyo.without_email, 1u);  // K3
  EXPECT_EQ(klaviyo.written, 2u);        // K1 once
  EXPECT_EQ(k, (std::vector<std::string>{"Email,Phone Number,First Name,Last Name",
                                         "jane.doe@example.com,+4930123456,\"Mary, Ann\",Doe",
                                         ",+16505551212,Max,Muster"}));
  const auto [mailchimp, m] = run(MatchFormat::kMailchimp);
  EXPECT_EQ(mailchimp.without_email, 2u);  // K2 has no e-mail, and Mailchimp takes no phone
  EXPECT_EQ(m, (std::vector<std::string>{"Email Address,First Name,Last Name",
                                         "jane.doe@example.com,\"Mary, Ann\",Doe"}));
  const auto [brevo, b] = run(MatchFormat::kBrevo);
  EXPECT_EQ(b, (std::vector<std::string>{"EMAIL,FIRSTNAME,LASTNAME,SMS",
                                         "jane.doe@example.com,\"Mary, Ann\",Doe,+4930123456",
                                         ",Max,Muster,+16505551212"}));

  // Without an e-mail column, Mailchimp has nothing to import.
  std::ofstream(dir / "crm_phones.csv") << "customer_id,phone\nK2,+1 650 555 1212\n";
  std::FILE* out = std::fopen((dir / "out.csv").c_str(), "wb");
  auto refused = MatchAudience(testing::TestKey(), (dir / "crm_phones.csv").string(), mapping,
                               (dir / "audience.csv").string(), MatchFormat::kMailchimp, out);
  std::fclose(out);
  EXPECT_NE(refused.status().message().find("the mailchimp format needs an e-mail column (mapping"),
            std::string::npos)
      << refused.status().message();
}

TEST(MatchAudience, NeedsAnIdentifierColumnAndAUuidColumn) {
  const auto dir = testing::TestDir();
  std::ofstream(dir / "crm.csv") << "name,city\nA,B\n";
  std::ofstream(dir / "audience.csv") << "uuid\n00000000-0000-8000-8000-000000000000\n";
  std::ofstream(dir / "bad_audience.csv") << "uuid\nnot a uuid\n";
  auto mapping = io::LoadMapping("generic");
  std::FILE* out = std::fopen((dir / "out.csv").c_str(), "wb");
  auto a = MatchAudience(testing::TestKey(), (dir / "crm.csv").string(), *mapping,
                         (dir / "audience.csv").string(), MatchFormat::kRows, out);
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("columns found: name, city"), std::string::npos);
  auto b = MatchAudience(testing::TestKey(), (dir / "crm.csv").string(), *mapping,
                         (dir / "bad_audience.csv").string(), MatchFormat::kRows, out);
  std::fclose(out);
  EXPECT_NE(b.status().message().find("line 2: not a UUID"), std::string::npos);
}

}  // namespace
}  // namespace tessera::audience
