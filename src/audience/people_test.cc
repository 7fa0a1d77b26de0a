// People with attributes (both stores): a mobile operator's subscribers or a CRM extract loaded
// beside a retailer's orders, or alone. Their attributes are what audience expressions see;
// people without orders are in the universe, countable by their attributes, and never buyers:
// no profile, no segment, no score, no CLV.

#include "tessera/audience/people.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

#include "audience/test_support.h"
#include "tessera/analytics/pipeline.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/audience/audiences.h"
#include "tessera/audience/expression.h"
#include "tessera/audience/index.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::audience {
namespace {

using store::Backend;
using ::testing::HasSubstr;

class PeopleTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_POSTGRES(GetParam());
    dir_ = testing::TestDir();
    auto mapping = io::LoadMapping("people");
    ASSERT_TRUE(mapping.ok());
    options_.mapping = *mapping;
    options_.mapping.default_phone_country = *io::FindPhoneCountry("DE");
  }

  std::string Location(const std::string& name) {
    return GetParam() == Backend::kSqlite ? (dir_ / (name + ".db")).string()
                                          : stores_.NewLocation(Backend::kPostgres, name);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  uint64_t Count(const AudienceIndex& index, const std::string& expression) {
    auto e = Expression::Parse(expression, index);
    EXPECT_TRUE(e.ok()) << expression << ": " << e.status().ToString();
    return e.ok() ? e->Evaluate().Cardinality() : 0;
  }

  StatusOr<analytics::ProfileSet> Profiles(store::Store& store) {
    analytics::ProfileOptions po;
    po.as_of_day = testing::kEndDay;
    po.window = Duration::Months(12);
    auto rules = analytics::SegmentRules::Default();
    EXPECT_TRUE(rules.ok());
    return analytics::ComputeSegmentedProfiles(store, po, *rules);
  }

  Status Snapshot(store::Store& store) {
    TESSERA_ASSIGN_OR_RETURN(auto set, Profiles(store));
    TESSERA_ASSIGN_OR_RETURN(auto rules, analytics::SegmentRules::Default());
    return analytics::SaveSnapshot(store, set, rules).status();
  }

  store::TestStores stores_;
  std::filesystem::path dir_;
  ingest::LoadOptions options_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PeopleTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         store::BackendName);

// The first ten customer numbers of a generated export (guests have none).
std::vector<std::string> FirstCustomerNumbers(const std::string& orders_csv) {
  std::ifstream in(orders_csv);
  std::string line;
  std::getline(in, line);  // the header; the customer number is the second column
  std::vector<std::string> out;
  while (out.size() < 10 && std::getline(in, line)) {
    const size_t a = line.find(',');
    const std::string id = line.substr(a + 1, line.find(',', a + 1) - a - 1);
    if (!id.empty() && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

// Ten of the retailer's customers by number and twenty people of its own: age bands alternate
// 65+ and 25-34; the retailer's ones have a tariff (the first four Max, the others Plus).
std::string PeopleFile(const std::vector<std::string>& customers) {
  std::string csv = "customer_id,email,age_band,tariff\n";
  for (int i = 1; i <= 10; ++i) {
    csv += fmt::format("{},,{},{}\n", customers[i - 1], i % 2 == 0 ? "25-34" : "65+",
                       i <= 4 ? "Max" : "Plus");
  }
  for (int i = 1; i <= 20; ++i) {
    csv += fmt::format(",person{}@example.net,{},\n", i, i % 2 == 0 ? "25-34" : "65+");
  }
  return csv;
}

TEST_P(PeopleTest, PeopleWithoutOrdersAreCountableAndNeverBuyers) {
  const std::string orders = testing::GenerateCsv(dir_, 300, 20, 5);
  auto store = testing::LoadAndSnapshot(Location("retailer"), orders);
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> numbers = FirstCustomerNumbers(orders);
  ASSERT_EQ(numbers.size(), 10u);
  auto before = Profiles(*store);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const uint64_t customers = before->customers_in_store;

  auto s =
      LoadPeople(*store, testing::TestKey(), {Write("people.csv", PeopleFile(numbers))}, options_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->people_in_store, 10u);
  EXPECT_EQ(s->people_new, 20u);
  EXPECT_EQ(s->attribute_values, 40u);

  // Analytics: the profiles, segments and CLV of buyers only, as before the load.
  auto after = Profiles(*store);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->customers_in_store, customers + 20);
  ASSERT_EQ(after->profiles.size(), before->profiles.size());
  for (size_t i = 0; i < after->profiles.size(); ++i) {
    EXPECT_EQ(after->profiles[i].customer, before->profiles[i].customer);
    EXPECT_EQ(after->profiles[i].revenue_minor, before->profiles[i].revenue_minor);
    EXPECT_EQ(after->profiles[i].segment, before->profiles[i].segment);
    EXPECT_LT(after->profiles[i].customer, customers);
  }
  auto rules = analytics::SegmentRules::Default();
  ASSERT_TRUE(rules.ok());
  EXPECT_EQ(analytics::BuildReport(*after, *rules, analytics::Lang::kEn).ToJson(),
            analytics::BuildReport(*before, *rules, analytics::Lang::kEn).ToJson());

  // The index: everyone is in the universe; the new people have no segment and no numbers.
  ASSERT_TRUE(Snapshot(*store).ok());
  auto index = BuildIndex(*store);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->universe().Cardinality(), customers + 20);
  EXPECT_EQ(index->profiled().Cardinality(), before->profiles.size());
  EXPECT_EQ(Count(*index, "age_band = \"25-34\""), 15u);
  EXPECT_EQ(Count(*index, "age_band in [\"25-34\", \"65+\"]"), 30u);
  EXPECT_EQ(Count(*index, "tariff = \"Max\""), 4u);
  // The fifth, seventh and ninth: 65+, and Plus.
  EXPECT_EQ(Count(*index, "age_band = \"65+\" and tariff != \"Max\""), 3u);
  // Of the twenty new people, none bought: none is in a segment or has an order.
  const uint64_t new_people = Count(*index,
                                    "age_band in [\"25-34\", \"65+\"] and not tariff in "
                                    "[\"Max\", \"Plus\"]");
  EXPECT_EQ(new_people, 20u);
  EXPECT_EQ(Count(*index,
                  "age_band in [\"25-34\", \"65+\"] and not tariff in [\"Max\", \"Plus\"] and "
                  "orders >= 0"),
            0u);
  std::string segments;
  for (const auto& g : index->segments())
    segments += (segments.empty() ? "\"" : ", \"") + g.key + "\"";
  EXPECT_EQ(Count(*index,
                  "age_band in [\"25-34\", \"65+\"] and not tariff in [\"Max\", "
                  "\"Plus\"] and segment in [" +
                      segments + "]"),
            0u);
}

TEST_P(PeopleTest, AStoreOfPeopleAloneIsCountableByItsAttributes) {
  auto store = store::Store::Open(Location("operator"), true);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto s = LoadPeople(**store, testing::TestKey(),
                      {Write("subscribers.csv",
                             "phone,age_band,tariff\n+49 170 1000001,25-34,Max\n"
                             "+49 170 1000002,25-34,Basic\n+49 170 1000003,65+,Basic\n")},
                      options_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->people_new, 3u);
  auto set = Profiles(**store);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->profiles.empty());
  EXPECT_EQ(set->customers_in_store, 3u);
  ASSERT_TRUE(Snapshot(**store).ok());
  auto index = BuildIndex(**store);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ(index->universe().Cardinality(), 3u);
  EXPECT_EQ(index->profiled().Cardinality(), 0u);
  EXPECT_EQ(Count(*index, "age_band = \"25-34\""), 2u);
  EXPECT_EQ(Count(*index, "age_band = \"25-34\" and tariff = \"Basic\""), 1u);
  EXPECT_EQ(Count(*index, "not tariff = \"Max\""), 2u);
}

TEST_P(PeopleTest, ABuiltInFieldIsNoAttributeAndNothingIsWritten) {
  auto store = store::Store::Open(Location("reserved"), true);
  ASSERT_TRUE(store.ok());
  for (const char* column : {"region", "segment", "clv", "and"}) {
    auto s = LoadPeople(
        **store, testing::TestKey(),
        {Write("people.csv", fmt::format("phone,tariff,{}\n+4917011,Max,x\n", column))}, options_);
    ASSERT_FALSE(s.ok()) << column;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.status().message(), HasSubstr("built-in field"));
  }
  EXPECT_EQ(*(*store)->CustomerCount(), 0u);
  EXPECT_TRUE((*store)->Loads()->empty());
  // Renamed in the mapping, it is one.
  options_.mapping.attributes.push_back({"home_region", {"region"}});
  auto s =
      LoadPeople(**store, testing::TestKey(),
                 {Write("people.csv", "phone,tariff,region\n+49 170 1000001,Max,Süd\n")}, options_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->attributes, (std::vector<std::string>{"home_region", "tariff"}));
}

TEST_P(PeopleTest, AnImportByPseudonymAndAPeopleFileSetTheSameAttributes) {
  auto store = store::Store::Open(Location("both"), true);
  ASSERT_TRUE(store.ok());
  const std::string file = Write("people.csv", "email,tariff\nanna@example.net,Max\n");
  ASSERT_TRUE(LoadPeople(**store, testing::TestKey(), {file}, options_).ok());
  auto p = privacy::Pseudonymizer::Create(testing::TestKey());
  const std::string anna =
      p->Pseudonym(privacy::IdentifierKind::kEmail, "anna@example.net").ToString();
  auto imported = ImportAttributes(
      **store, Write("import.csv", "uuid,name,value\n" + anna + ",tariff,Basic\n"));
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->attached, 1u);
  std::vector<std::string> values;
  ASSERT_TRUE(AudienceStore(**store)
                  .ScanAttributes(
                      [&](const CustomerAttribute& a) { values.push_back(a.name + "=" + a.value); })
                  .ok());
  EXPECT_EQ(values, (std::vector<std::string>{"tariff=Basic"}));
  // Loading the file again sets it back.
  auto again = LoadPeople(**store, testing::TestKey(), {file}, options_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->attribute_values_changed, 1u);
}

}  // namespace
}  // namespace tessera::audience
