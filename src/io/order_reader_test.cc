#include "tessera/io/order_reader.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/common/civil_time.h"

namespace tessera::io {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One Next() result, copied out of the reader's buffer.
struct Got {
  OrderReader::Result result = OrderReader::Result::kEnd;
  uint64_t line = 0;
  std::string order_id, customer_id, email, phone, currency, sku, category, region;
  bool adjustment = false;
  int64_t ordered_at = 0, amount_micro = 0, quantity_milli = 0;
  OrderKind kind = OrderKind::kPurchase;
  Reject reject;
};

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/order_reader_test_" + name;
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

Mapping Generic() {
  auto m = LoadMapping("generic");
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Mapping();
}

// Reads the whole file; fails the test when the reader cannot open it.
std::vector<Got> ReadAll(const std::string& path, const Mapping& mapping) {
  auto reader = OrderReader::Open(path, mapping);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Got> out;
  if (!reader.ok()) return out;
  for (;;) {
    OrderLine line;
    Got g;
    g.result = (*reader)->Next(&line, &g.reject);
    if (g.result == OrderReader::Result::kEnd) break;
    if (g.result == OrderReader::Result::kLine) {
      g.line = line.line;
      g.order_id = line.order_id;
      g.customer_id = line.customer_id;
      g.email = line.email;
      g.phone = line.phone;
      g.currency = line.currency;
      g.sku = line.sku;
      g.category = line.category;
      g.region = line.region;
      g.ordered_at = line.ordered_at;
      g.amount_micro = line.amount_micro;
      g.quantity_milli = line.quantity_milli;
      g.kind = line.kind;
      g.adjustment = line.order_adjustment;
    }
    out.push_back(std::move(g));
  }
  return out;
}

int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

// Privacy: a reject names the place and the reason, never the value.
void ExpectNoValue(const Reject& r, std::string_view value) {
  EXPECT_THAT(r.reason, Not(HasSubstr(std::string(value))));
  EXPECT_THAT(r.column_name, Not(HasSubstr(std::string(value))));
  EXPECT_THAT(r.reason_code, Not(HasSubstr(std::string(value))));
  EXPECT_THAT(r.file, Not(HasSubstr(std::string(value))));
}

TEST(OrderReader, ReadsOrderLevelRows) {
  const std::string path = WriteFile("orders.csv",
                                     "order_id,customer_id,email,ordered_at,amount,currency\n"
                                     "A1,c1,a@example.com,2024-03-01,12.50,EUR\n"
                                     "A2,c2,,2024-03-02T10:00:00+01:00,-3,USD\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(rows[0].order_id, "A1");
  EXPECT_EQ(rows[0].customer_id, "c1");
  EXPECT_EQ(rows[0].email, "a@example.com");
  EXPECT_EQ(rows[0].ordered_at, Utc(2024, 3, 1));
  EXPECT_EQ(rows[0].amount_micro, 12'500'000);
  EXPECT_EQ(rows[0].quantity_milli, 1000);
  EXPECT_EQ(rows[0].currency, "EUR");
  EXPECT_EQ(rows[0].kind, OrderKind::kPurchase);
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[1].line, 3u);
  EXPECT_EQ(rows[1].email, "");
  EXPECT_EQ(rows[1].ordered_at, Utc(2024, 3, 2, 9));
  EXPECT_EQ(rows[1].amount_micro, -3'000'000);
  EXPECT_EQ(rows[1].currency, "USD");
}

TEST(OrderReader, OpenReportsTheLevelAndWhetherThereIsAnOrderId) {
  const std::string path =
      WriteFile("no_order_id.csv", "customer_id,ordered_at,amount\nc1,2024-03-01,1\n");
  const Mapping m = Generic();
  auto reader = OrderReader::Open(path, m);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->level(), RowLevel::kOrder);
  EXPECT_FALSE((*reader)->has_order_id());
  EXPECT_EQ((*reader)->path(), path);
}

TEST(OrderReader, MissingCurrencyColumnTakesTheMappingDefault) {
  const std::string path =
      WriteFile("default_currency.csv", "customer_id,ordered_at,amount\nc1,2024-03-01,1\n");
  Mapping m = Generic();
  m.currency = "chf";  // upper-cased by the reader
  const auto rows = ReadAll(path, m);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[0].currency, "CHF");
}

TEST(OrderReader, MultipliesQuantityByUnitPriceExactly) {
  const std::string path = WriteFile("lines.csv",
                                     "order_id,customer_id,ordered_at,sku,quantity,unit_price\n"
                                     "A1,c1,2024-03-01,S1,3,0.165\n"
                                     "A1,c1,2024-03-01,S2,0.5,2.99\n"
                                     "A1,c1,2024-03-01,S3,,4.20\n");
  const Mapping m = Generic();
  auto reader = OrderReader::Open(path, m);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->level(), RowLevel::kLine);
  const auto rows = ReadAll(path, m);
  ASSERT_EQ(rows.size(), 3u);
  for (const Got& g : rows) ASSERT_EQ(g.result, OrderReader::Result::kLine) << g.reject.reason;
  // 3 x 0.165 = 0.495 exactly (in binary floating point it is 0.49500000000000005).
  EXPECT_EQ(rows[0].quantity_milli, 3000);
  EXPECT_EQ(rows[0].amount_micro, 495'000);
  EXPECT_EQ(rows[0].sku, "S1");
  EXPECT_EQ(rows[1].quantity_milli, 500);
  EXPECT_EQ(rows[1].amount_micro, 1'495'000);
  // No quantity: one piece.
  EXPECT_EQ(rows[2].quantity_milli, 1000);
  EXPECT_EQ(rows[2].amount_micro, 4'200'000);
}

TEST(OrderReader, RoundsLineTotalsHalfAwayFromZero) {
  // 1.5 x 0.000001 = 0.0000015 -> 2 micro units; -1.5 x 0.000001 -> -2.
  const std::string path = WriteFile("rounding.csv",
                                     "order_id,customer_id,ordered_at,quantity,unit_price\n"
                                     "A1,c1,2024-03-01,1.5,0.000001\n"
                                     "A2,c1,2024-03-01,-1.5,0.000001\n"
                                     "A3,c1,2024-03-01,1.499,0.000001\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].amount_micro, 2);
  EXPECT_EQ(rows[1].amount_micro, -2);
  EXPECT_EQ(rows[2].amount_micro, 1);
}

TEST(OrderReader, AnAmountColumnWinsOverQuantityTimesPrice) {
  const std::string path = WriteFile("amount_and_price.csv",
                                     "order_id,customer_id,ordered_at,quantity,unit_price,amount\n"
                                     "A1,c1,2024-03-01,2,5.00,9.00\n"
                                     "A2,c1,2024-03-01,2,5.00,\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].amount_micro, 9'000'000);  // a discount applied to the line
  EXPECT_EQ(rows[1].amount_micro, 10'000'000);
}

TEST(OrderReader, ReadsDecimalCommasFromSemicolonFiles) {
  const std::string path = WriteFile("german.csv",
                                     "Bestellnummer;Kundennummer;Datum;Betrag\n"
                                     "A1;c1;1.3.2024 9:05;1.234,56\n"
                                     "A2;c2;31.12.2023 23:59;0,99 \xE2\x82\xAC\n");
  auto m = ParseMapping(
      "[columns]\norder_id = \"Bestellnummer\"\ncustomer_id = \"Kundennummer\"\n"
      "ordered_at = \"Datum\"\namount = \"Betrag\"\n"
      "[values]\ntimestamp_format = \"%d.%m.%Y %H:%M\"\ncurrency = \"EUR\"\n",
      "german.toml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const auto rows = ReadAll(path, *m);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kLine) << rows[0].reject.reason;
  EXPECT_EQ(rows[0].amount_micro, 1'234'560'000);
  EXPECT_EQ(rows[0].ordered_at, Utc(2024, 3, 1, 9, 5));
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine) << rows[1].reject.reason;
  EXPECT_EQ(rows[1].amount_micro, 990'000);
  EXPECT_EQ(rows[1].ordered_at, Utc(2023, 12, 31, 23, 59));
  EXPECT_EQ(rows[1].currency, "EUR");
}

TEST(OrderReader, CancelPrefixMakesACredit) {
  const std::string path = WriteFile("uci.csv",
                                     "InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice\n"
                                     "536365,17850,2010-12-01 08:26:00,6,2.55\n"
                                     "C536379,14527,2010-12-01 09:41:00,-1,27.50\n");
  Mapping m = Generic();
  m.columns[static_cast<size_t>(Field::kOrderId)] = {"InvoiceNo"};
  m.columns[static_cast<size_t>(Field::kCustomerId)] = {"CustomerID"};
  m.columns[static_cast<size_t>(Field::kOrderedAt)] = {"InvoiceDate"};
  m.columns[static_cast<size_t>(Field::kUnitPrice)] = {"UnitPrice"};
  m.timestamp_format = "%Y-%m-%d %H:%M:%S";
  m.cancel_prefix = "C";
  const auto rows = ReadAll(path, m);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kLine) << rows[0].reject.reason;
  EXPECT_EQ(rows[0].kind, OrderKind::kPurchase);
  EXPECT_EQ(rows[0].amount_micro, 15'300'000);
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine) << rows[1].reject.reason;
  EXPECT_EQ(rows[1].kind, OrderKind::kCredit);
  EXPECT_EQ(rows[1].order_id, "C536379");
  EXPECT_EQ(rows[1].amount_micro, -27'500'000);
  EXPECT_EQ(rows[1].ordered_at, Utc(2010, 12, 1, 9, 41));
}

TEST(OrderReader, StatusesVoidCreditOrSkipRowsCaseInsensitively) {
  const std::string path = WriteFile("statuses.csv",
                                     "order_id,customer_id,ordered_at,amount,status\n"
                                     "A1,c1,2024-03-01,10,completed\n"
                                     "A2,c1,2024-03-01,10,Storniert\n"
                                     "A3,c1,2024-03-01,10,RETURNED\n"
                                     "A4,c1,2024-03-01,10,pending\n"
                                     "A5,c1,2024-03-01,10,\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[0].kind, OrderKind::kPurchase);
  EXPECT_EQ(rows[1].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[1].kind, OrderKind::kVoid);
  EXPECT_EQ(rows[2].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[2].kind, OrderKind::kCredit);
  EXPECT_EQ(rows[3].result, OrderReader::Result::kSkip);
  EXPECT_EQ(rows[4].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[4].kind, OrderKind::kPurchase);
}

TEST(OrderReader, StatusListsSetInCodeMatchCaseInsensitively) {
  const std::string path = WriteFile("statuses_code.csv",
                                     "customer_id,ordered_at,amount,status\n"
                                     "c1,2024-03-01,10,on hold\n");
  Mapping m = Generic();
  m.ignore_statuses = {"On Hold"};
  const auto rows = ReadAll(path, m);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result, OrderReader::Result::kSkip);
}

TEST(OrderReader, BadTimestampIsRejectedWithLineColumnAndName) {
  const std::string path = WriteFile("bad_ts.csv",
                                     "order_id,customer_id,Ordered_At,amount\n"
                                     "A1,c1,2024-03-01,10\n"
                                     "A2,c2,secret-4711,10\n"
                                     "A3,c3,2023-02-29,10\n"
                                     "A4,c4,2024-03-04,10\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].result, OrderReader::Result::kLine);
  ASSERT_EQ(rows[1].result, OrderReader::Result::kReject);
  const Reject& r = rows[1].reject;
  EXPECT_EQ(r.file, path);
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.column, 3u);
  EXPECT_EQ(r.column_name, "Ordered_At");  // as the file spells it
  EXPECT_EQ(r.reason_code, "bad_timestamp");
  EXPECT_THAT(r.reason, HasSubstr("ISO 8601"));
  ExpectNoValue(r, "secret");
  ExpectNoValue(r, "4711");
  ASSERT_EQ(rows[2].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[2].reject.line, 4u);
  EXPECT_EQ(rows[2].reject.reason_code, "bad_timestamp");
  EXPECT_THAT(rows[2].reject.reason, HasSubstr("no such date"));
  ExpectNoValue(rows[2].reject, "2023-02-29");
  // A bad row does not cost the good ones after it.
  ASSERT_EQ(rows[3].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[3].order_id, "A4");
}

TEST(OrderReader, BadNumberIsRejectedWithItsColumn) {
  const std::string path = WriteFile("bad_number.csv",
                                     "order_id,customer_id,ordered_at,amount\n"
                                     "A1,c1,2024-03-01,secret-4711\n"
                                     "A2,c1,2024-03-01,47.111\n"
                                     "A3,c1,2024-03-01,\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.line, 2u);
  EXPECT_EQ(rows[0].reject.column, 4u);
  EXPECT_EQ(rows[0].reject.column_name, "amount");
  EXPECT_EQ(rows[0].reject.reason_code, "bad_number");
  EXPECT_THAT(rows[0].reject.reason, HasSubstr("amount"));
  ExpectNoValue(rows[0].reject, "secret");
  ExpectNoValue(rows[0].reject, "4711");
  // Amounts have six decimals: 47.111 is fine.
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[1].amount_micro, 47'111'000);
  ASSERT_EQ(rows[2].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[2].reject.reason_code, "missing_amount");
  EXPECT_EQ(rows[2].reject.column_name, "amount");
}

TEST(OrderReader, BadQuantityAndUnitPriceAreRejectedWithTheirColumns) {
  const std::string path = WriteFile("bad_line.csv",
                                     "order_id,customer_id,ordered_at,qty,price\n"
                                     "A1,c1,2024-03-01,1.0001,2.00\n"
                                     "A2,c1,2024-03-01,2,secret-4711\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.column, 4u);
  EXPECT_EQ(rows[0].reject.column_name, "qty");
  EXPECT_EQ(rows[0].reject.reason_code, "bad_number");
  EXPECT_THAT(rows[0].reject.reason, HasSubstr("more than 3 decimals"));
  ExpectNoValue(rows[0].reject, "1.0001");
  ASSERT_EQ(rows[1].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[1].reject.column, 5u);
  EXPECT_EQ(rows[1].reject.column_name, "price");
  EXPECT_EQ(rows[1].reject.reason_code, "bad_number");
  ExpectNoValue(rows[1].reject, "secret");
  ExpectNoValue(rows[1].reject, "4711");
}

TEST(OrderReader, BadCurrencyIsRejectedWithoutItsValue) {
  const std::string path = WriteFile("bad_currency.csv",
                                     "order_id,customer_id,ordered_at,amount,currency\n"
                                     "A1,c1,2024-03-01,1,secret-4711\n"
                                     "A2,c1,2024-03-01,1,EURO\n"
                                     "A3,c1,2024-03-01,1,GBP\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.line, 2u);
  EXPECT_EQ(rows[0].reject.column, 5u);
  EXPECT_EQ(rows[0].reject.column_name, "currency");
  EXPECT_EQ(rows[0].reject.reason_code, "bad_currency");
  ExpectNoValue(rows[0].reject, "secret");
  ExpectNoValue(rows[0].reject, "4711");
  ASSERT_EQ(rows[1].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[1].reject.reason_code, "bad_currency");
  ExpectNoValue(rows[1].reject, "EURO");
  EXPECT_EQ(rows[2].result, OrderReader::Result::kLine);
}

TEST(OrderReader, NoCurrencyAnywhereIsRejected) {
  const std::string path =
      WriteFile("no_currency.csv", "customer_id,ordered_at,amount\nc1,2024-03-01,1\n");
  Mapping m = Generic();
  m.currency.clear();
  const auto rows = ReadAll(path, m);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.reason_code, "missing_currency");
  EXPECT_EQ(rows[0].reject.column, 0u);
  EXPECT_EQ(rows[0].reject.column_name, "");
}

TEST(OrderReader, EmptyOrderIdIsRejectedWhenTheColumnExists) {
  const std::string path = WriteFile("empty_order_id.csv",
                                     "order_id,customer_id,ordered_at,amount\n"
                                     ",c1,2024-03-01,1\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.reason_code, "missing_order_id");
  EXPECT_EQ(rows[0].reject.column, 1u);
  EXPECT_EQ(rows[0].reject.column_name, "order_id");
}

TEST(OrderReader, OverlongAttributeNamesItsOwnColumn) {
  const std::string long_sku(1025, 'x');
  const std::string path = WriteFile("long_sku.csv",
                                     "order_id,customer_id,ordered_at,amount,category,sku\n"
                                     "A1,c1,2024-03-01,1,books," +
                                         long_sku + "\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.reason_code, "bad_attribute");
  EXPECT_EQ(rows[0].reject.column, 6u);
  EXPECT_EQ(rows[0].reject.column_name, "sku");
}

TEST(OrderReader, MalformedRowBecomesARejectWithoutItsValues) {
  const std::string path = WriteFile("wrong_count.csv",
                                     "order_id,customer_id,ordered_at,amount\n"
                                     "A1,secret-4711,2024-03-01,1,extra\n"
                                     "A2,c2,2024-03-01,2\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[0].reject.line, 2u);
  EXPECT_EQ(rows[0].reject.reason_code, "wrong_field_count");
  EXPECT_EQ(rows[0].reject.file, path);
  ExpectNoValue(rows[0].reject, "secret");
  ExpectNoValue(rows[0].reject, "4711");
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine);
  EXPECT_EQ(rows[1].line, 3u);
}

TEST(OrderReader, ReadsJsonLines) {
  const std::string path = WriteFile(
      "orders.jsonl",
      "{\"order_id\":\"A1\",\"customer_id\":\"c1\",\"ordered_at\":\"2024-03-01T12:00:00Z\","
      "\"amount\":12.5,\"currency\":\"EUR\"}\n"
      "{\"order_id\":\"A2\",\"customer_id\":\"c2\",\"ordered_at\":\"2024-03-02\","
      "\"amount\":\"7\",\"currency\":\"EUR\"}\n"
      "{\"order_id\":\"A3\",\"customer_id\":\"c3\",\"ordered_at\":\"secret-4711\","
      "\"amount\":1,\"currency\":\"EUR\"}\n");
  const auto rows = ReadAll(path, Generic());
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[0].result, OrderReader::Result::kLine) << rows[0].reject.reason;
  EXPECT_EQ(rows[0].order_id, "A1");
  EXPECT_EQ(rows[0].ordered_at, Utc(2024, 3, 1, 12));
  EXPECT_EQ(rows[0].amount_micro, 12'500'000);
  ASSERT_EQ(rows[1].result, OrderReader::Result::kLine) << rows[1].reject.reason;
  EXPECT_EQ(rows[1].amount_micro, 7'000'000);
  ASSERT_EQ(rows[2].result, OrderReader::Result::kReject);
  EXPECT_EQ(rows[2].reject.line, 3u);
  EXPECT_EQ(rows[2].reject.reason_code, "bad_timestamp");
  EXPECT_EQ(rows[2].reject.column_name, "ordered_at");
  ExpectNoValue(rows[2].reject, "secret");
  ExpectNoValue(rows[2].reject, "4711");
}

TEST(OrderReader, UnmappableFileIsRefusedWithTheColumnsFound) {
  const std::string path = WriteFile("unmappable.csv", "Kunde,Datum,Betrag\nc1,2024-03-01,1\n");
  auto reader = OrderReader::Open(path, Generic());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("Kunde, Datum, Betrag"));
}

TEST(OrderReader, MissingFileIsNotFound) {
  auto reader =
      OrderReader::Open(::testing::TempDir() + "/order_reader_test_missing.csv", Generic());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
}

TEST(OrderReader, BadDefaultCurrencyIsRefusedAtOpen) {
  const std::string path =
      WriteFile("euro.csv", "customer_id,ordered_at,amount\nc1,2024-03-01,1\n");
  Mapping m = Generic();
  m.currency = "EURO";
  auto reader = OrderReader::Open(path, m);
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(reader.status().message(), HasSubstr("ISO 4217"));
}

TEST(OrderReader, KeepsItsOwnCopyOfATemporaryMapping) {
  const std::string path = WriteFile("temporary_mapping.csv",
                                     "order_id,customer_id,ordered_at,amount,status\n"
                                     "A1,c1,2024-03-01,1,pending\n"
                                     "A2,c1,2024-03-01,1,storniert\n");
  // The mapping dies with the StatusOr at the end of the full expression.
  auto reader = OrderReader::Open(path, *LoadMapping("generic"));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  OrderLine line;
  Reject reject;
  EXPECT_EQ((*reader)->Next(&line, &reject), OrderReader::Result::kSkip);
  ASSERT_EQ((*reader)->Next(&line, &reject), OrderReader::Result::kLine);
  EXPECT_EQ(line.kind, OrderKind::kVoid);
  EXPECT_EQ(line.currency, "EUR");
  EXPECT_EQ((*reader)->Next(&line, &reject), OrderReader::Result::kEnd);
}

TEST(OrderReader, IdenticalRowsHashAlikeAndDifferentRowsNot) {
  const std::string path = WriteFile("hash.csv",
                                     "customer_id,ordered_at,amount\n"
                                     "c1,2024-03-01,1\n"
                                     "c1,2024-03-01,1\n"
                                     "c1,2024-03-01,2\n");
  const Mapping m = Generic();
  auto reader = OrderReader::Open(path, m);
  ASSERT_TRUE(reader.ok());
  std::vector<uint64_t> hashes;
  OrderLine line;
  Reject reject;
  for (OrderReader::Result r; (r = (*reader)->Next(&line, &reject)) != OrderReader::Result::kEnd;) {
    if (r == OrderReader::Result::kLine) hashes.push_back(line.content_hash);
  }
  ASSERT_EQ(hashes.size(), 3u);
  EXPECT_EQ(hashes[0], hashes[1]);
  EXPECT_NE(hashes[0], hashes[2]);
}

TEST(OrderReader, ReadsThePhoneColumnOfTheGenericPreset) {
  for (const char* header : {"phone", "phone_number", "Mobile", "msisdn"}) {
    const std::string path = WriteFile(
        "phone.csv", fmt::format("order_id,{},ordered_at,amount\nA1, +49 30 1234567 ,2024-03-01,1\n"
                                 "A2,,2024-03-02,1\n",
                                 header));
    const auto rows = ReadAll(path, Generic());
    ASSERT_EQ(rows.size(), 2u) << header;
    ASSERT_EQ(rows[0].result, OrderReader::Result::kLine) << header;
    EXPECT_EQ(rows[0].phone, "+49 30 1234567") << header;  // trimmed, normalized later
    EXPECT_EQ(rows[0].customer_id, "");
    EXPECT_EQ(rows[1].phone, "") << header;
  }
}

// Without order ids a row's order is named by its content hash: mapping a phone column (which
// older releases left unread) must not rename it, or a file loaded then would load twice.
TEST(OrderReader, ThePhoneIsLeftOutOfTheContentHash) {
  const std::string with_phone = WriteFile("hash_phone.csv",
                                           "customer_id,ordered_at,amount,phone\n"
                                           "c1,2024-03-01,1,+49301234567\n"
                                           "c1,2024-03-01,1,+49301234999\n");
  Mapping unread = Generic();
  unread.columns[static_cast<size_t>(Field::kPhone)].clear();  // as before phones were read
  std::vector<uint64_t> hashes;
  for (const Mapping& m : {Generic(), unread}) {
    auto reader = OrderReader::Open(with_phone, m);
    ASSERT_TRUE(reader.ok());
    OrderLine line;
    Reject reject;
    for (OrderReader::Result r;
         (r = (*reader)->Next(&line, &reject)) != OrderReader::Result::kEnd;) {
      if (r == OrderReader::Result::kLine) hashes.push_back(line.content_hash);
    }
  }
  ASSERT_EQ(hashes.size(), 4u);
  EXPECT_EQ(hashes[0], hashes[1]);  // rows that differ only in the phone
  EXPECT_EQ(hashes[0], hashes[2]);  // the same row, its phone column read or not
}

Mapping Preset(const std::string& name) {
  auto m = LoadMapping(name);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Mapping();
}

// Shopify's layout: one row per line item, the order's fields on its first row only.
TEST(OrderReader, LinesOfAnExportWithOrderTotalsAddUpToTheTotalNetOfRefunds) {
  const std::string path = WriteFile(
      "shopify.csv",
      "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem price,"
      "Lineitem sku,Cancelled at,Refunded Amount\n"
      // 2 x 10.00 + 1 x 5.00 = 25.00; total 27.50 (shipping 4.90, discount 2.40), 5.00 refunded
      "#1001,Jane@Example.com,partially_refunded,EUR,27.50,2024-03-01 14:05:09 +0100,2,10.00,A,,"
      "5.00\n"
      "#1001,,,,,,1,5.00,B,,\n"
      // one line that is the whole total: no adjustment
      "#1002,max@example.com,paid,EUR,8.00,2024-03-02 09:00:00 +0100,1,8.00,C,,0.00\n");
  const auto got = ReadAll(path, Preset("shopify"));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].amount_micro, 20'000'000);
  EXPECT_EQ(got[0].sku, "A");
  EXPECT_EQ(got[1].line, 3u);
  EXPECT_EQ(got[1].amount_micro, 5'000'000);
  EXPECT_EQ(got[1].sku, "B");
  // The second line takes the order's fields from the first.
  EXPECT_EQ(got[1].email, "Jane@Example.com");
  EXPECT_EQ(got[1].currency, "EUR");
  EXPECT_EQ(got[1].ordered_at, Utc(2024, 3, 1, 13, 5, 9));
  // After the order's last line: 27.50 - 5.00 - 25.00 = -2.50, without sku and quantity.
  EXPECT_EQ(got[2].result, OrderReader::Result::kLine);
  EXPECT_TRUE(got[2].adjustment);
  EXPECT_EQ(got[2].order_id, "#1001");
  EXPECT_EQ(got[2].email, "Jane@Example.com");
  EXPECT_EQ(got[2].amount_micro, -2'500'000);
  EXPECT_EQ(got[2].quantity_milli, 0);
  EXPECT_EQ(got[2].sku, "");
  EXPECT_EQ(got[2].line, 2u);
  EXPECT_EQ(got[3].order_id, "#1002");
  EXPECT_FALSE(got[3].adjustment);
  EXPECT_EQ(got[3].amount_micro, 8'000'000);
}

TEST(OrderReader, TheLastOrderOfAFileGetsItsAdjustmentToo) {
  const std::string path = WriteFile(
      "shopify_last.csv",
      "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem price\n"
      "#1,a@example.com,paid,EUR,14.90,2024-03-01 10:00:00 +0000,1,10.00\n");
  const auto got = ReadAll(path, Preset("shopify"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[1].adjustment);
  EXPECT_EQ(got[1].amount_micro, 4'900'000);
}

TEST(OrderReader, VoidedSkippedAndRejectedOrdersTakeTheirFurtherLinesAlong) {
  const std::string path = WriteFile(
      "shopify_states.csv",
      "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,Lineitem price,"
      "Cancelled at,Refunded Amount\n"
      "#1,a@example.com,refunded,EUR,20.00,2024-03-01 10:00:00 +0000,2,10.00,,20.00\n"
      "#1,,,,,,1,0.00,,\n"
      "#2,b@example.com,paid,EUR,9.00,2024-03-01 11:00:00 +0000,1,9.00,"
      "2024-03-02 08:00:00 +0000,\n"
      "#3,c@example.com,pending,EUR,5.00,2024-03-01 12:00:00 +0000,1,5.00,,\n"
      "#3,,,,,,1,1.00,,\n"
      "#4,d@example.com,paid,EUR,5.00,yesterday,1,5.00,,\n"
      "#4,,,,,,1,1.00,,\n");
  const auto got = ReadAll(path, Preset("shopify"));
  ASSERT_EQ(got.size(), 7u);
  // refunded in full, and cancelled: voided, lines and all, and no adjustment
  EXPECT_EQ(got[0].kind, OrderKind::kVoid);
  EXPECT_EQ(got[1].kind, OrderKind::kVoid);
  EXPECT_EQ(got[2].kind, OrderKind::kVoid);
  EXPECT_FALSE(got[1].adjustment);
  EXPECT_EQ(got[3].result, OrderReader::Result::kSkip);  // pending
  EXPECT_EQ(got[4].result, OrderReader::Result::kSkip);
  EXPECT_EQ(got[5].result, OrderReader::Result::kReject);
  EXPECT_EQ(got[5].reject.reason_code, "bad_timestamp");
  EXPECT_EQ(got[6].result, OrderReader::Result::kReject);
  EXPECT_EQ(got[6].reject.reason_code, "order_rejected");
  EXPECT_EQ(got[6].reject.line, 8u);
}

// WooCommerce's "one row per item": the order's columns repeated on every row.
TEST(OrderReader, RepeatedOrderColumnsCountOnce) {
  const std::string path = WriteFile(
      "woo.csv",
      "order_id,date,status,order_total,refunded_total,order_currency,billing_email,item_sku,"
      "item_quantity,item_total\n"
      "55,2024-03-01 10:00:00,completed,36.50,4.50,EUR,a@example.com,X,2,20.00\n"
      "55,2024-03-01 10:00:00,completed,36.50,4.50,EUR,a@example.com,Y,1,10.00\n");
  const auto got = ReadAll(path, Preset("woocommerce"));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].amount_micro, 20'000'000);
  EXPECT_EQ(got[1].amount_micro, 10'000'000);
  EXPECT_TRUE(got[2].adjustment);
  EXPECT_EQ(got[2].amount_micro, 2'000'000);  // 36.50 - 4.50 - 30.00: shipping and taxes
}

TEST(OrderReader, OrderLevelRowsAreTheirTotalNetOfRefunds) {
  const std::string path = WriteFile(
      "magento.csv",
      "ID,Purchase Point,Purchase Date,Grand Total (Purchased),Status,Customer Email,"
      "Total Refunded\n"
      "000000001,Default Store View,\"Mar 1, 2024 02:05:09 PM\",119.9900,Complete,"
      "a@example.com,20.0000\n"
      "000000002,Default Store View,\"Mar 2, 2024 09:00:00 AM\",50.0000,Canceled,"
      "b@example.com,\n"
      "000000003,Default Store View,\"Mar 3, 2024 09:00:00 AM\",,Complete,c@example.com,\n");
  const auto got = ReadAll(path, Preset("magento2"));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].amount_micro, 99'990'000);
  EXPECT_EQ(got[0].ordered_at, Utc(2024, 3, 1, 14, 5, 9));
  EXPECT_EQ(got[0].currency, "EUR");
  EXPECT_EQ(got[1].kind, OrderKind::kVoid);
  EXPECT_EQ(got[2].result, OrderReader::Result::kReject);
  EXPECT_EQ(got[2].reject.reason_code, "missing_amount");
  EXPECT_EQ(got[2].reject.column_name, "Grand Total (Purchased)");
}

TEST(OrderReader, ABadRefundIsRejectedWithItsColumnAndWithoutItsValue) {
  const std::string path =
      WriteFile("woo_bad.csv",
                "order_id,date,status,order_total,refunded_total,order_currency,billing_email\n"
                "7,2024-03-01 10:00:00,completed,10.00,zehn Euro,EUR,a@example.com\n");
  const auto got = ReadAll(path, Preset("woocommerce"));
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].result, OrderReader::Result::kReject);
  EXPECT_EQ(got[0].reject.reason_code, "bad_number");
  EXPECT_EQ(got[0].reject.column_name, "refunded_total");
  EXPECT_EQ(got[0].reject.column, 5u);
  ExpectNoValue(got[0].reject, "zehn Euro");
}

// The German export: ';', day-first dates, decimal commas, German column names.
TEST(OrderReader, TheGenericPresetReadsAGermanExport) {
  const std::string path =
      WriteFile("german.csv",
                "Bestellnummer;Kundennummer;E-Mail;Bestelldatum;Betrag;W\xC3\xA4hrung\n"
                "B-1;K-100;jana@example.de;01.03.2024 14:05;1.234,50;EUR\n"
                "B-2;K-200;max@example.de;2.3.2024;7,99;EUR\n");
  const auto got = ReadAll(path, Generic());
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].result, OrderReader::Result::kLine) << got[0].reject.reason;
  EXPECT_EQ(got[0].order_id, "B-1");
  EXPECT_EQ(got[0].customer_id, "K-100");
  EXPECT_EQ(got[0].email, "jana@example.de");
  EXPECT_EQ(got[0].ordered_at, Utc(2024, 3, 1, 14, 5));
  EXPECT_EQ(got[0].amount_micro, 1'234'500'000);
  EXPECT_EQ(got[1].ordered_at, Utc(2024, 3, 2));
  EXPECT_EQ(got[1].amount_micro, 7'990'000);
}

}  // namespace
}  // namespace tessera::io
