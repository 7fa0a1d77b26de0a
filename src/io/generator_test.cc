#include "tessera/io/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tessera/common/civil_time.h"

namespace tessera::io {
namespace {

constexpr std::string_view kHeader =
    "order_id,customer_id,email,ordered_at,sku,category,quantity,unit_price,currency,store,"
    "region,channel,status";

enum Field {
  kOrderId,
  kCustomerId,
  kEmail,
  kOrderedAt,
  kSku,
  kCategory,
  kQuantity,
  kUnitPrice,
  kCurrency,
  kStore,
  kRegion,
  kChannel,
  kStatus,
  kFieldCount
};

using Row = std::array<std::string_view, kFieldCount>;

GeneratorOptions SmallOptions(uint64_t customers, uint64_t seed = 7) {
  GeneratorOptions options;
  options.customers = customers;
  options.seed = seed;
  options.end_day = DaysFromCivil(2024, 6, 30);
  return options;
}

std::string GenerateToString(const GeneratorOptions& options, GeneratorStats* stats = nullptr) {
  std::string out;
  auto result = GenerateOrders(options, [&out](std::string_view chunk) {
    out.append(chunk);
    return OkStatus();
  });
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (stats != nullptr && result.ok()) *stats = *result;
  return out;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == separator) {
      parts.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  return parts;
}

int Quantity(const Row& row) { return std::stoi(std::string(row[kQuantity])); }

// One generated export of 20k customers, parsed once for all the tests that inspect it.
// Generated fields never contain quotes or commas, so splitting on ',' is a full CSV parse
// (the RowsAreThirteenPlainFields test checks that assumption).
class GeneratorOutput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    options_ = new GeneratorOptions(SmallOptions(20000));
    stats_ = new GeneratorStats;
    text_ = new std::string(GenerateToString(*options_, stats_));
    lines_ = new std::vector<std::string_view>(Split(*text_, '\n'));
    rows_ = new std::vector<Row>;
    for (size_t i = 1; i + 1 < lines_->size(); ++i) {
      const std::vector<std::string_view> fields = Split((*lines_)[i], ',');
      Row row;
      for (size_t f = 0; f < kFieldCount && f < fields.size(); ++f) row[f] = fields[f];
      rows_->push_back(row);
    }
  }
  static void TearDownTestSuite() {
    delete rows_;
    delete lines_;
    delete text_;
    delete stats_;
    delete options_;
  }

  // Customers are keyed by email: guests have no customer_id.
  static std::map<std::string_view, std::vector<std::string_view>> OrdersByCustomer() {
    std::map<std::string_view, std::vector<std::string_view>> orders;
    std::string_view previous;
    for (const Row& row : *rows_) {
      if (row[kOrderId] != previous) orders[row[kEmail]].push_back(row[kOrderId]);
      previous = row[kOrderId];
    }
    return orders;
  }

  // Status of each distinct order, in output order.
  static std::vector<std::pair<std::string_view, std::string_view>> OrdersInOutputOrder() {
    std::vector<std::pair<std::string_view, std::string_view>> orders;
    for (const Row& row : *rows_) {
      if (orders.empty() || orders.back().first != row[kOrderId]) {
        orders.emplace_back(row[kOrderId], row[kStatus]);
      }
    }
    return orders;
  }

  static GeneratorOptions* options_;
  static GeneratorStats* stats_;
  static std::string* text_;
  static std::vector<std::string_view>* lines_;
  static std::vector<Row>* rows_;
};

GeneratorOptions* GeneratorOutput::options_ = nullptr;
GeneratorStats* GeneratorOutput::stats_ = nullptr;
std::string* GeneratorOutput::text_ = nullptr;
std::vector<std::string_view>* GeneratorOutput::lines_ = nullptr;
std::vector<Row>* GeneratorOutput::rows_ = nullptr;

// Cents of a decimal amount with two decimals ("-12.34").
int64_t Cents(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  const size_t dot = text.find('.');
  const int64_t cents = std::stoll(std::string(text.substr(0, dot))) * 100 +
                        std::stoll(std::string(text.substr(dot + 1)));
  return negative ? -cents : cents;
}

// The order-level and e-mail-only shapes are the same orders as the line items of the seed:
// one row per order (its duplicates too) with the sum of its lines, the customer number
// column present or not.
TEST(Generator, OrderLevelAndEmailOnlyShapesAreTheSameOrders) {
  const GeneratorOptions lines_options = SmallOptions(3000, 11);
  GeneratorStats line_stats;
  const std::string line_text = GenerateToString(lines_options, &line_stats);
  struct Order {
    std::string customer, email, at, status;
    int64_t cents = 0;
    std::string first_row;
    bool second_copy = false;
    size_t lines = 0;  // of one copy
    size_t rows = 0;   // of all copies
  };
  std::map<std::string, Order> expected;
  const auto lines = Split(line_text, '\n');
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const auto f = Split(lines[i], ',');
    ASSERT_EQ(f.size(), static_cast<size_t>(kFieldCount));
    Order& o = expected[std::string(f[kOrderId])];
    ++o.rows;
    // A duplicate repeats the order's lines right after them: its first line again.
    if (o.first_row.empty()) o.first_row = lines[i];
    if (o.rows > 1 && lines[i] == o.first_row) o.second_copy = true;
    if (o.second_copy) continue;
    ++o.lines;
    o.customer = f[kCustomerId];
    o.email = f[kEmail];
    o.at = f[kOrderedAt];
    o.status = f[kStatus];
    o.cents += std::stoi(std::string(f[kQuantity])) * Cents(f[kUnitPrice]);
  }
  for (bool email_only : {false, true}) {
    GeneratorOptions options = lines_options;
    options.order_level = true;
    options.email_only = email_only;
    GeneratorStats stats;
    const std::string text = GenerateToString(options, &stats);
    EXPECT_EQ(stats.orders, line_stats.orders);
    EXPECT_EQ(stats.customers, line_stats.customers);
    const auto rows = Split(text, '\n');
    EXPECT_EQ(rows[0], email_only
                           ? "order_id,email,ordered_at,amount,currency,store,region,channel,status"
                           : "order_id,customer_id,email,ordered_at,amount,currency,store,region,"
                             "channel,status");
    std::map<std::string, size_t> copies;
    for (size_t i = 1; i + 1 < rows.size(); ++i) {
      auto f = Split(rows[i], ',');
      if (email_only) f.insert(f.begin() + 1, std::string_view());
      ASSERT_EQ(f.size(), 10u) << rows[i];
      const auto it = expected.find(std::string(f[0]));
      ASSERT_NE(it, expected.end()) << f[0];
      const Order& o = it->second;
      EXPECT_EQ(f[1], email_only ? "" : o.customer);
      EXPECT_EQ(f[2], o.email);
      EXPECT_EQ(f[3], o.at);
      EXPECT_EQ(Cents(f[4]), o.cents) << f[0];
      EXPECT_EQ(f[9], o.status);
      ++copies[std::string(f[0])];
    }
    ASSERT_EQ(copies.size(), expected.size());
    size_t duplicated = 0;
    for (const auto& [id, n] : copies) {
      const Order& o = expected[id];
      EXPECT_EQ(n * o.lines, o.rows) << id;  // written twice in both shapes, or once
      duplicated += n - 1;
    }
    EXPECT_GT(duplicated, 0u);
    EXPECT_EQ(stats.lines, rows.size() - 2);
  }
}

TEST(Generator, SameSeedGivesTheSameBytes) {
  const std::string a = GenerateToString(SmallOptions(2000, 1));
  const std::string b = GenerateToString(SmallOptions(2000, 1));
  ASSERT_GT(a.size(), 10000u);
  EXPECT_TRUE(a == b);
}

TEST(Generator, DifferentSeedGivesDifferentBytes) {
  const std::string a = GenerateToString(SmallOptions(2000, 1));
  const std::string b = GenerateToString(SmallOptions(2000, 2));
  EXPECT_FALSE(a == b);
}

TEST(Generator, FileOutputMatchesSinkOutput) {
  const GeneratorOptions options = SmallOptions(500);
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  auto stats = GenerateOrders(options, file);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  std::string from_file(static_cast<size_t>(std::ftell(file)), '\0');
  std::rewind(file);
  ASSERT_EQ(std::fread(from_file.data(), 1, from_file.size(), file), from_file.size());
  std::fclose(file);
  EXPECT_EQ(stats->bytes, from_file.size());
  EXPECT_TRUE(from_file == GenerateToString(options));
}

TEST(Generator, ZeroCustomersGivesOnlyTheHeader) {
  GeneratorStats stats;
  EXPECT_EQ(GenerateToString(SmallOptions(0), &stats), std::string(kHeader) + "\n");
  EXPECT_EQ(stats.customers, 0u);
  EXPECT_EQ(stats.orders, 0u);
  EXPECT_EQ(stats.lines, 0u);
}

TEST(Generator, RejectsOptionsOutOfRange) {
  const auto sink = [](std::string_view) { return OkStatus(); };
  GeneratorOptions options = SmallOptions(10);
  options.months = 0;
  EXPECT_EQ(GenerateOrders(options, sink).status().code(), StatusCode::kInvalidArgument);
  options = SmallOptions(10);
  options.categories = 0;
  EXPECT_EQ(GenerateOrders(options, sink).status().code(), StatusCode::kInvalidArgument);
  options = SmallOptions(10);
  options.void_rate = 1.5;
  EXPECT_EQ(GenerateOrders(options, sink).status().code(), StatusCode::kInvalidArgument);
  options = SmallOptions(10);
  options.duplicate_rate = -0.1;
  EXPECT_EQ(GenerateOrders(options, sink).status().code(), StatusCode::kInvalidArgument);
  options = SmallOptions(10);
  options.end_day = DaysFromCivil(1, 6, 1);  // 24 months back is before year 1
  EXPECT_EQ(GenerateOrders(options, sink).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateOrders(SmallOptions(10), static_cast<std::FILE*>(nullptr)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Generator, SinkErrorStopsGeneration) {
  int calls = 0;
  auto result = GenerateOrders(SmallOptions(50000), [&calls](std::string_view) {
    ++calls;
    return UnavailableError("disk full");
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

TEST(Generator, StreamsInBoundedChunks) {
  size_t chunks = 0, largest = 0;
  auto result = GenerateOrders(SmallOptions(20000), [&](std::string_view chunk) {
    ++chunks;
    largest = std::max(largest, chunk.size());
    return OkStatus();
  });
  ASSERT_TRUE(result.ok());
  EXPECT_GT(chunks, 3u);
  EXPECT_LE(largest, size_t{1} << 20);
}

TEST(Generator, CustomerBehaviourDoesNotDependOnTheCustomerCount) {
  // Customer i has its own random stream: the first customers of a larger run are the same.
  const std::string small = GenerateToString(SmallOptions(100));
  const std::string large = GenerateToString(SmallOptions(200));
  EXPECT_EQ(large.substr(0, small.size()), small);
}

TEST_F(GeneratorOutput, HeaderIsExact) { EXPECT_EQ((*lines_)[0], kHeader); }

TEST_F(GeneratorOutput, RowsAreThirteenPlainFields) {
  ASSERT_EQ(text_->back(), '\n');
  EXPECT_EQ(text_->find('\r'), std::string::npos);
  EXPECT_EQ(text_->find('"'), std::string::npos);
  for (size_t i = 1; i + 1 < lines_->size(); ++i) {
    ASSERT_EQ(Split((*lines_)[i], ',').size(), 13u) << "line " << i + 1;
  }
}

TEST_F(GeneratorOutput, StatsMatchTheOutput) {
  std::set<std::string_view> orders, customers;
  for (const Row& row : *rows_) {
    orders.insert(row[kOrderId]);
    customers.insert(row[kEmail]);
  }
  EXPECT_EQ(stats_->customers, options_->customers);
  EXPECT_EQ(customers.size(), stats_->customers);
  EXPECT_EQ(orders.size(), stats_->orders);
  EXPECT_EQ(rows_->size(), stats_->lines);
  EXPECT_EQ(text_->size(), stats_->bytes);
  EXPECT_GT(stats_->orders, 2 * options_->customers);  // enough to be a useful data set
}

TEST_F(GeneratorOutput, OrderRowsAreContiguous) {
  std::unordered_set<std::string_view> finished;
  std::string_view current;
  for (const Row& row : *rows_) {
    if (row[kOrderId] == current) continue;
    ASSERT_TRUE(finished.insert(current).second) << row[kOrderId];
    ASSERT_EQ(finished.count(row[kOrderId]), 0u) << row[kOrderId];
    current = row[kOrderId];
  }
}

TEST_F(GeneratorOutput, TimestampsFallInThePeriod) {
  const std::string first = FormatIsoDate(AddMonths(options_->end_day, -options_->months) + 1);
  const std::string last = FormatIsoDate(options_->end_day);
  std::string_view min = "9999", max = "0000";
  for (const Row& row : *rows_) {
    const std::string_view at = row[kOrderedAt];
    ASSERT_EQ(at.size(), 20u);
    ASSERT_EQ(at[10], 'T');
    ASSERT_EQ(at[19], 'Z');
    ASSERT_TRUE(ParseIsoDate(at.substr(0, 10)).ok()) << at;
    min = std::min(min, at);
    max = std::max(max, at);
  }
  EXPECT_GE(min.substr(0, 10), first);
  EXPECT_LE(max.substr(0, 10), last);
  // The period is used from its first to its last month.
  EXPECT_EQ(min.substr(0, 7), first.substr(0, 7));
  EXPECT_EQ(max.substr(0, 7), last.substr(0, 7));
}

TEST_F(GeneratorOutput, PurchaseFrequencyIsHeterogeneous) {
  size_t once = 0, five_or_more = 0, twenty_or_more = 0;
  for (const auto& [email, orders] : OrdersByCustomer()) {
    once += orders.size() == 1;
    five_or_more += orders.size() >= 5;
    twenty_or_more += orders.size() >= 20;
  }
  const double n = static_cast<double>(options_->customers);
  EXPECT_GT(once / n, 0.2);
  EXPECT_LT(once / n, 0.7);
  EXPECT_GT(five_or_more / n, 0.1);
  EXPECT_GT(twenty_or_more, 50u);
}

TEST_F(GeneratorOutput, CustomersAreAcquiredOverThePeriod) {
  std::map<std::string_view, std::string_view> first_order;
  for (const Row& row : *rows_) {
    auto [it, inserted] = first_order.emplace(row[kEmail], row[kOrderedAt]);
    if (!inserted) it->second = std::min(it->second, row[kOrderedAt]);
  }
  std::map<std::string_view, size_t> by_year;
  for (const auto& [email, at] : first_order) ++by_year[at.substr(0, 4)];
  // 2022-07..2024-06: customers first seen in each calendar year the period touches.
  EXPECT_GT(by_year["2022"], 2000u);
  EXPECT_GT(by_year["2023"], 4000u);
  EXPECT_GT(by_year["2024"], 2000u);
}

TEST_F(GeneratorOutput, SpendPerCustomerIsSkewed) {
  std::unordered_map<std::string_view, double> spend;
  for (const Row& row : *rows_) {
    if (row[kStatus] != "completed") continue;
    spend[row[kEmail]] += Quantity(row) * std::stod(std::string(row[kUnitPrice]));
  }
  std::vector<double> totals;
  for (const auto& [email, total] : spend) totals.push_back(total);
  std::sort(totals.begin(), totals.end(), std::greater<>());
  double all = 0, top = 0;
  for (size_t i = 0; i < totals.size(); ++i) {
    all += totals[i];
    if (i < totals.size() / 10) top += totals[i];
  }
  // The best tenth of customers brings far more than a tenth of the revenue.
  EXPECT_GT(top / all, 0.4);
}

TEST_F(GeneratorOutput, CategoriesFormASkewedThreeLevelHierarchy) {
  std::map<std::string_view, size_t> leaf_lines;
  std::set<std::string> departments, aisles;
  for (const Row& row : *rows_) {
    ++leaf_lines[row[kCategory]];
    const std::string category(row[kCategory]);
    const size_t a = category.find(" > ");
    const size_t b = category.find(" > ", a + 3);
    ASSERT_NE(a, std::string::npos) << category;
    ASSERT_NE(b, std::string::npos) << category;
    ASSERT_EQ(category.find(" > ", b + 3), std::string::npos) << category;
    departments.insert(category.substr(0, a));
    aisles.insert(category.substr(0, b));
  }
  EXPECT_GE(leaf_lines.size(), 1000u);
  EXPECT_LE(leaf_lines.size(), options_->categories);
  EXPECT_EQ(departments.size(), 10u);
  EXPECT_EQ(aisles.size(), 100u);
  std::vector<size_t> counts;
  for (const auto& [leaf, count] : leaf_lines) counts.push_back(count);
  std::sort(counts.begin(), counts.end(), std::greater<>());
  size_t top = 0;
  for (size_t i = 0; i < counts.size() / 10; ++i) top += counts[i];
  EXPECT_GT(static_cast<double>(top) / rows_->size(), 0.35);  // Zipf: top 10% of leaves
}

TEST_F(GeneratorOutput, OrdersHaveOneToEightDistinctLinesMostlyFew) {
  std::unordered_map<std::string_view, std::set<std::string_view>> skus_of_order;
  for (const Row& row : *rows_) skus_of_order[row[kOrderId]].insert(row[kSku]);
  std::map<size_t, size_t> histogram;
  for (const auto& [id, skus] : skus_of_order) ++histogram[skus.size()];
  EXPECT_EQ(histogram.begin()->first, 1u);
  EXPECT_LE(histogram.rbegin()->first, 8u);
  const double n = static_cast<double>(skus_of_order.size());
  EXPECT_GT(histogram[1] / n, 0.4);
  EXPECT_LT(histogram[1] / n, 0.8);
  EXPECT_GT(histogram[5] + histogram[6] + histogram[7] + histogram[8], 100u);
  // No pile-up at the cap.
  EXPECT_LT(histogram[8], histogram[7]);
}

TEST_F(GeneratorOutput, EachSkuHasOneCategoryAndOnePrice) {
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> skus;
  for (const Row& row : *rows_) {
    const std::string_view price = row[kUnitPrice];
    ASSERT_GE(price.size(), 4u);
    ASSERT_EQ(price[price.size() - 3], '.') << price;
    ASSERT_GT(std::stod(std::string(price)), 0.0);
    ASSERT_EQ(row[kSku].substr(0, 4), "SKU-");
    auto [it, inserted] = skus.emplace(row[kSku], std::make_pair(row[kCategory], price));
    ASSERT_EQ(it->second.first, row[kCategory]) << row[kSku];
    ASSERT_EQ(it->second.second, price) << row[kSku];
  }
  EXPECT_GT(skus.size(), 5000u);
}

TEST_F(GeneratorOutput, SomeOrdersAreWrittenTwiceByteForByte) {
  // Group the lines of each order; a duplicated order is a group whose second half repeats
  // its first half exactly.
  size_t duplicated = 0, orders = 0;
  for (size_t i = 1; i + 1 < lines_->size();) {
    const std::string_view id = Split((*lines_)[i], ',')[kOrderId];
    size_t j = i;
    while (j + 1 < lines_->size() &&
           (*lines_)[j].substr(0, id.size() + 1) == std::string(id) + ",") {
      ++j;
    }
    const size_t n = j - i;
    bool twice = n % 2 == 0;
    for (size_t k = 0; twice && k < n / 2; ++k)
      twice = (*lines_)[i + k] == (*lines_)[i + n / 2 + k];
    duplicated += twice;
    ++orders;
    i = j;
  }
  EXPECT_EQ(orders, stats_->orders);
  const double rate = static_cast<double>(duplicated) / orders;
  EXPECT_GT(rate, options_->duplicate_rate * 0.5);
  EXPECT_LT(rate, options_->duplicate_rate * 2.0);
}

TEST_F(GeneratorOutput, CancellationsAndReturnsAppearAtTheirRates) {
  size_t cancelled = 0, returned = 0;
  const auto orders = OrdersInOutputOrder();
  for (const auto& [id, status] : orders) {
    ASSERT_TRUE(status == "completed" || status == "cancelled" || status == "returned") << status;
    cancelled += status == "cancelled";
    returned += status == "returned";
  }
  const double n = static_cast<double>(orders.size());
  EXPECT_GT(cancelled / n, options_->void_rate * 0.7);
  EXPECT_LT(cancelled / n, options_->void_rate * 1.3);
  EXPECT_GT(returned / n, options_->return_rate * 0.6);
  EXPECT_LT(returned / n, options_->return_rate * 1.4);
}

TEST_F(GeneratorOutput, QuantitiesAreNegativeOnlyOnReturns) {
  size_t multi = 0;
  for (const Row& row : *rows_) {
    const int quantity = Quantity(row);
    ASSERT_NE(quantity, 0);
    ASSERT_EQ(quantity < 0, row[kStatus] == "returned") << row[kOrderId];
    ASSERT_LE(std::abs(quantity), 6);
    multi += quantity > 1;
  }
  EXPECT_GT(multi, rows_->size() / 50);  // some lines buy several
  EXPECT_LT(multi, rows_->size() / 3);   // most buy one
}

TEST_F(GeneratorOutput, ReturnsFollowTheOrderTheyReturn) {
  // A return order comes right after its original: same customer, a later time, and each
  // returned SKU was bought in it, at least as many as are returned.
  size_t checked = 0;
  for (size_t i = 0; i < rows_->size(); ++i) {
    const Row& row = (*rows_)[i];
    if (row[kStatus] != "returned" || (i > 0 && (*rows_)[i - 1][kOrderId] == row[kOrderId])) {
      continue;
    }
    ASSERT_GT(i, 0u);
    const std::string_view original_id = (*rows_)[i - 1][kOrderId];
    std::map<std::string_view, int> bought;
    for (size_t k = i; k-- > 0 && (*rows_)[k][kOrderId] == original_id;) {
      const Row& original = (*rows_)[k];
      EXPECT_EQ(original[kStatus], "completed");
      EXPECT_EQ(original[kEmail], row[kEmail]);
      EXPECT_EQ(original[kStore], row[kStore]);
      EXPECT_LT(original[kOrderedAt], row[kOrderedAt]);
      bought[original[kSku]] = Quantity(original);
    }
    for (size_t k = i; k < rows_->size() && (*rows_)[k][kOrderId] == row[kOrderId]; ++k) {
      const Row& line = (*rows_)[k];
      ASSERT_TRUE(bought.count(line[kSku])) << line[kOrderId];
      EXPECT_LE(-Quantity(line), bought[line[kSku]]);
    }
    ++checked;
  }
  EXPECT_GT(checked, 100u);
}

TEST_F(GeneratorOutput, GuestsHaveAnEmailButNoCustomerId) {
  std::set<std::string_view> guests, members;
  std::unordered_map<std::string_view, std::string_view> email_of;
  for (const Row& row : *rows_) {
    ASSERT_NE(row[kEmail].find('@'), std::string_view::npos) << row[kOrderId];
    if (row[kCustomerId].empty()) {
      guests.insert(row[kEmail]);
      EXPECT_EQ(row[kStore], "Online Shop");
      continue;
    }
    members.insert(row[kCustomerId]);
    ASSERT_EQ(row[kCustomerId].size(), 9u);
    ASSERT_EQ(row[kCustomerId][0], 'K');
    ASSERT_TRUE(std::all_of(row[kCustomerId].begin() + 1, row[kCustomerId].end(),
                            [](char c) { return c >= '0' && c <= '9'; }));
    auto [it, inserted] = email_of.emplace(row[kCustomerId], row[kEmail]);
    ASSERT_EQ(it->second, row[kEmail]) << "a member's email changed";
  }
  const double guest_share = static_cast<double>(guests.size()) / options_->customers;
  EXPECT_GT(guest_share, 0.03);
  EXPECT_LT(guest_share, 0.07);
  EXPECT_EQ(guests.size() + members.size(), options_->customers);
}

TEST_F(GeneratorOutput, ChannelStoreAndRegionAgree) {
  const std::set<std::string_view> regions = {"Nord", "S\u00fcd", "West", "Ost"};
  std::set<std::string_view> stores;
  std::map<std::string_view, size_t> channels;
  for (const Row& row : *rows_) {
    ASSERT_EQ(row[kCurrency], "EUR");
    ASSERT_TRUE(regions.count(row[kRegion])) << row[kRegion];
    ++channels[row[kChannel]];
    if (row[kChannel] == "store") {
      ASSERT_NE(row[kStore], "Online Shop");
      stores.insert(row[kStore]);
    } else {
      ASSERT_TRUE(row[kChannel] == "online" || row[kChannel] == "app") << row[kChannel];
      ASSERT_EQ(row[kStore], "Online Shop");
    }
  }
  EXPECT_EQ(stores.size(), 12u);
  EXPECT_EQ(channels.size(), 3u);
  EXPECT_GT(channels["store"], rows_->size() / 5);
  EXPECT_GT(channels["online"], rows_->size() / 20);
  EXPECT_GT(channels["app"], rows_->size() / 20);
}

}  // namespace
}  // namespace tessera::io
