// The generator's phone numbers and its second party: a mobile operator's subscriber file that
// shares a known set of people with the retailer's export, and the truth it reports.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"
#include "tessera/io/generator.h"

namespace tessera::io {
namespace {

using ::testing::HasSubstr;

std::string Orders(uint64_t customers, double phone_share, uint64_t seed = 11) {
  GeneratorOptions g;
  g.customers = customers;
  g.months = 6;
  g.seed = seed;
  g.end_day = DaysFromCivil(2024, 6, 30);
  g.categories = 50;
  g.phone_share = phone_share;
  std::string out;
  auto stats = GenerateOrders(g, [&](std::string_view chunk) {
    out.append(chunk);
    return OkStatus();
  });
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  return out;
}

StatusOr<SubscriberTruth> Subscribers(const SubscriberOptions& options, std::string* out) {
  return GenerateSubscribers(options, [&](std::string_view chunk) {
    out->append(chunk);
    return OkStatus();
  });
}

std::vector<std::vector<std::string>> Rows(const std::string& csv) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
      const size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    rows.push_back(std::move(fields));
  }
  return rows;
}

std::string WithoutBlanks(std::string s) {
  std::erase(s, ' ');
  return s;
}

TEST(GeneratorPhones, APhoneColumnLeavesEveryOtherByteAsItWas) {
  const std::string plain = Orders(300, 0.0);
  const std::string phones = Orders(300, 0.5);
  EXPECT_EQ(plain.substr(0, plain.find('\n')),
            "order_id,customer_id,email,ordered_at,sku,category,quantity,unit_price,currency,"
            "store,region,channel,status");
  EXPECT_EQ(phones.substr(0, phones.find('\n')), plain.substr(0, plain.find('\n')) + ",phone");
  // Each row with its last column cut off is the row without phones.
  std::string cut;
  std::istringstream in(phones);
  std::string line;
  while (std::getline(in, line)) cut += line.substr(0, line.rfind(',')) + "\n";
  EXPECT_EQ(cut, plain);
}

TEST(GeneratorPhones, AShareOfCustomersHasOneDistinctMobileNumber) {
  const auto rows = Rows(Orders(2000, 0.4));
  std::map<std::string, std::string> phone_of;  // e-mail -> phone ("" none)
  const std::regex mobile(R"(\+49 17[0-9] [0-9]{8})");
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 14u);
    const std::string& email = rows[i][2];
    const std::string& phone = rows[i][13];
    if (!phone.empty()) EXPECT_TRUE(std::regex_match(phone, mobile)) << phone;
    auto [it, inserted] = phone_of.emplace(email, phone);
    EXPECT_EQ(it->second, phone) << "a customer's rows disagree on the phone";
  }
  ASSERT_EQ(phone_of.size(), 2000u);
  std::set<std::string> distinct;
  size_t with = 0;
  for (const auto& [email, phone] : phone_of) {
    if (phone.empty()) continue;
    ++with;
    distinct.insert(phone);
  }
  EXPECT_EQ(distinct.size(), with);
  EXPECT_NEAR(static_cast<double>(with) / 2000, 0.4, 0.04);
  // The same seed gives the same numbers; another seed others.
  EXPECT_EQ(Orders(200, 0.4, 3), Orders(200, 0.4, 3));
  EXPECT_NE(Orders(200, 0.4, 3), Orders(200, 0.4, 4));
}

TEST(GeneratorPhones, RefusesAShareOutsideZeroToOne) {
  GeneratorOptions g;
  g.end_day = DaysFromCivil(2024, 6, 30);
  g.phone_share = 1.5;
  auto s = GenerateOrders(g, [](std::string_view) { return OkStatus(); });
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("phone share"));
}

SubscriberOptions Options() {
  SubscriberOptions o;
  o.subscribers = 3000;
  o.retailer_customers = 2000;
  o.shared = 700;
  o.retailer_phone_share = 0.4;
  o.email_share = 0.6;
  o.seed = 11;
  return o;
}

TEST(GenerateSubscribers, TheSameOptionsGiveTheSameBytes) {
  std::string a, b, c;
  ASSERT_TRUE(Subscribers(Options(), &a).ok());
  ASSERT_TRUE(Subscribers(Options(), &b).ok());
  SubscriberOptions other = Options();
  other.seed = 12;
  ASSERT_TRUE(Subscribers(other, &c).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(GenerateSubscribers, RowsHaveAContractAPhoneAndFourAttributes) {
  std::string csv;
  auto truth = Subscribers(Options(), &csv);
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  const auto rows = Rows(csv);
  ASSERT_EQ(rows.size(), 3001u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"customer_id", "phone", "email", "age_band",
                                               "region", "device", "tariff"}));
  const std::regex contract("M[0-9]{9}"), phone(R"(\+491[57][0-9]{9})");
  std::set<std::string> phones, emails;
  size_t with_email = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 7u);
    EXPECT_TRUE(std::regex_match(rows[i][0], contract));
    EXPECT_TRUE(std::regex_match(rows[i][1], phone)) << rows[i][1];
    phones.insert(rows[i][1]);
    if (!rows[i][2].empty()) {
      ++with_email;
      emails.insert(AsciiLower(rows[i][2]));
    }
    for (size_t a = 3; a < 7; ++a) EXPECT_FALSE(rows[i][a].empty());
  }
  EXPECT_EQ(phones.size(), 3000u);
  EXPECT_EQ(emails.size(), with_email);
  EXPECT_EQ(truth->subscribers, 3000u);
  EXPECT_EQ(truth->with_email, with_email);
}

// The truth, recounted from the two files: people of the subscriber file whose e-mail address
// (once normalized) or phone number (once normalized) the retailer's export has.
TEST(GenerateSubscribers, TheTruthIsWhatTheFilesShare) {
  const SubscriberOptions o = Options();
  const auto retailer = Rows(Orders(o.retailer_customers, o.retailer_phone_share, o.seed));
  std::map<std::string, std::string> customer_of_email, customer_of_phone;
  for (size_t i = 1; i < retailer.size(); ++i) {
    customer_of_email[AsciiLower(retailer[i][2])] = retailer[i][2];
    if (!retailer[i][13].empty()) {
      customer_of_phone[WithoutBlanks(retailer[i][13])] = retailer[i][2];
    }
  }
  ASSERT_EQ(customer_of_email.size(), o.retailer_customers);
  std::string csv;
  auto truth = Subscribers(o, &csv);
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  const auto rows = Rows(csv);
  SharedPeople shared;
  std::map<std::string, std::map<std::string, SharedPeople>> by_attribute;
  std::map<std::string, std::map<std::string, uint64_t>> subscribers_by_attribute;
  const char* columns[] = {"", "", "", "age_band", "region", "device", "tariff"};
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto email = customer_of_email.find(AsciiLower(rows[i][2]));
    const auto phone = customer_of_phone.find(rows[i][1]);
    const bool by_email = !rows[i][2].empty() && email != customer_of_email.end();
    const bool by_phone = phone != customer_of_phone.end();
    // Both identifiers of a shared person lead to the same customer.
    if (by_email && by_phone) EXPECT_EQ(email->second, phone->second);
    for (size_t a = 3; a < 7; ++a) {
      ++subscribers_by_attribute[columns[a]][rows[i][a]];
      if (!by_email && !by_phone) continue;
      SharedPeople& c = by_attribute[columns[a]][rows[i][a]];
      ++c.people;
      c.by_email += by_email;
      c.by_phone += by_phone;
      c.by_email_and_phone += by_email && by_phone;
    }
    if (!by_email && !by_phone) continue;
    ++shared.people;
    shared.by_email += by_email;
    shared.by_phone += by_phone;
    shared.by_email_and_phone += by_email && by_phone;
  }
  EXPECT_EQ(shared.people, o.shared);
  EXPECT_EQ(truth->shared.people, shared.people);
  EXPECT_EQ(truth->shared.by_email, shared.by_email);
  EXPECT_EQ(truth->shared.by_phone, shared.by_phone);
  EXPECT_EQ(truth->shared.by_email_and_phone, shared.by_email_and_phone);
  EXPECT_GT(shared.by_email, 0u);
  EXPECT_GT(shared.by_phone, 0u);
  EXPECT_LT(shared.by_email_and_phone, shared.by_phone);
  EXPECT_EQ(truth->subscribers_by_attribute, subscribers_by_attribute);
  for (const auto& [column, values] : truth->shared_by_attribute) {
    for (const auto& [value, c] : values) {
      const SharedPeople counted = by_attribute[column][value];
      EXPECT_EQ(c.people, counted.people) << column << "=" << value;
      EXPECT_EQ(c.by_email, counted.by_email) << column << "=" << value;
      EXPECT_EQ(c.by_phone, counted.by_phone) << column << "=" << value;
      EXPECT_EQ(c.by_email_and_phone, counted.by_email_and_phone) << column << "=" << value;
    }
  }
  // As JSON, for scripts.
  const auto j = nlohmann::json::parse(truth->ToJson());
  EXPECT_EQ(j["shared"]["people"], o.shared);
  EXPECT_EQ(j["shared"]["by_email"], shared.by_email);
  EXPECT_EQ(j["attributes"]["age_band"]["25-34"]["shared"],
            by_attribute["age_band"]["25-34"].people);
  EXPECT_EQ(j["attributes"]["tariff"]["Max"]["subscribers"],
            subscribers_by_attribute["tariff"]["Max"]);
}

TEST(GenerateSubscribers, WithoutRetailerPhonesEveryoneSharedHasTheEmail) {
  SubscriberOptions o = Options();
  o.retailer_phone_share = 0;
  std::string csv;
  auto truth = Subscribers(o, &csv);
  ASSERT_TRUE(truth.ok());
  EXPECT_EQ(truth->shared.people, o.shared);
  EXPECT_EQ(truth->shared.by_email, o.shared);
  EXPECT_EQ(truth->shared.by_phone, 0u);
}

TEST(GenerateSubscribers, DistributionsArePlausible) {
  SubscriberOptions o = Options();
  o.subscribers = 20000;
  o.shared = 0;
  std::string csv;
  auto truth = Subscribers(o, &csv);
  ASSERT_TRUE(truth.ok());
  const auto& age = truth->subscribers_by_attribute.at("age_band");
  EXPECT_NEAR(age.at("18-24") / 20000.0, 0.10, 0.015);
  EXPECT_NEAR(age.at("45-54") / 20000.0, 0.19, 0.02);
  EXPECT_NEAR(truth->with_email / 20000.0, 0.6, 0.02);
  EXPECT_EQ(truth->subscribers_by_attribute.at("region").size(), 4u);
  // Feature phones and prepaid tariffs are more common among the old than among the young.
  const auto rows = Rows(csv);
  std::map<std::string, std::pair<int, int>> feature;  // age -> (feature phones, all)
  for (size_t i = 1; i < rows.size(); ++i) {
    auto& f = feature[rows[i][3]];
    f.first += rows[i][5] == "Feature phone";
    ++f.second;
  }
  EXPECT_GT(static_cast<double>(feature["65+"].first) / feature["65+"].second,
            3.0 * feature["25-34"].first / feature["25-34"].second);
}

TEST(GenerateSubscribers, RefusesOptionsOutOfRange) {
  std::string csv;
  SubscriberOptions o = Options();
  o.shared = 2500;  // more than the retailer's customers
  EXPECT_THAT(Subscribers(o, &csv).status().message(), HasSubstr("at most"));
  o = Options();
  o.shared = 3001;
  o.retailer_customers = 5000;
  EXPECT_FALSE(Subscribers(o, &csv).ok());
  o = Options();
  o.email_share = -0.1;
  EXPECT_FALSE(Subscribers(o, &csv).ok());
  o = Options();
  o.subscribers = 2'000'000'000;
  EXPECT_FALSE(Subscribers(o, &csv).ok());
  // Nobody at all: a header.
  o = Options();
  o.subscribers = 0;
  o.shared = 0;
  csv.clear();
  ASSERT_TRUE(Subscribers(o, &csv).ok());
  EXPECT_EQ(csv, "customer_id,phone,email,age_band,region,device,tariff\n");
}

}  // namespace
}  // namespace tessera::io
