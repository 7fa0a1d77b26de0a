#include "tessera/audience/expression.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/common/civil_time.h"

namespace tessera::audience {
namespace {

// Ten customers; 0..7 bought in the window. Days count back from the as-of date.
class ExpressionTest : public ::testing::Test {
 protected:
  static constexpr int64_t kAsOf = 20000;

  void SetUp() override {
    IndexInfo info;
    info.as_of_day = kAsOf;
    info.start_day = kAsOf - 364;
    info.window = "12m";
    info.currency = "EUR";
    info.customers = 10;
    IndexBuilder b(info, {{"champions", "Champions", "VIPs"},
                          {"loyal", "Loyal customers", "Stammkunden"},
                          {"lost", "Lost", "Verlorene"}});
    // customer, segment, r, f, m, orders, clv (cents), recency
    const int rows[][8] = {{0, 0, 5, 5, 5, 6, 52000, 3},  {1, 0, 5, 4, 5, 4, 30000, 10},
                           {2, 1, 4, 4, 3, 3, 20000, 40}, {3, 1, 3, 4, 4, 3, 20050, 80},
                           {4, 2, 1, 1, 1, 1, 1999, 300}, {5, 2, 1, 1, 2, 1, 5000, 200},
                           {6, 1, 4, 3, 3, 2, -500, 20},  {7, 2, 2, 1, 1, 1, 0, 150}};
    for (const auto& r : rows) {
      analytics::Profile p;
      p.customer = r[0];
      p.segment = r[1];
      p.r_score = r[2];
      p.f_score = r[3];
      p.m_score = r[4];
      p.order_count = r[5];
      p.revenue_minor = r[6];
      p.recency_days = r[7];
      b.AddProfile(p);
    }
    b.AddCategory(1, "Food > Dairy > Cheese");
    b.AddCategory(2, "Food > Dairy > Milk");
    b.AddCategory(3, "Drinks > Wine");
    b.AddCategory(4, "Deli > Blue Cheese");
    b.AddCategory(5, "Deli>Cheese");  // the same name under another parent
    b.AddPurchase(0, kAsOf - 3, 1, 2500);
    b.AddPurchase(0, kAsOf - 40, 1, 1000);
    b.AddPurchase(1, kAsOf - 10, 2, 300);
    b.AddPurchase(2, kAsOf - 100, 1, 5000);
    b.AddPurchase(3, kAsOf - 80, 3, 2000);
    b.AddPurchase(3, kAsOf - 80, 2, 150);
    b.AddPurchase(3, kAsOf - 80, 1, 100);  // two categories on one day
    b.AddPurchase(4, kAsOf - 300, 4, 800);
    b.AddPurchase(5, kAsOf - 500, 1, 999);  // before the window: ignored
    b.AddPurchase(6, kAsOf - 20, 5, 700);
    b.AddAttribute("Region", "north", 0);
    b.AddAttribute("region", "south", 1);
    b.AddAttribute("region", "south", 2);
    b.AddAttribute("region", "north", 2);
    b.AddAttribute("channel", "online", 3);
    b.AddAttribute("channel", "store", 4);
    index_ = b.Finish();
  }

  std::vector<uint32_t> Eval(const std::string& text) {
    auto e = Expression::Parse(text, index_);
    EXPECT_TRUE(e.ok()) << text << ": " << e.status().message();
    if (!e.ok()) return {};
    return e->Evaluate().ToVector();
  }
  std::string Error(const std::string& text) {
    auto e = Expression::Parse(text, index_);
    EXPECT_FALSE(e.ok()) << text;
    return e.ok() ? "" : e.status().message();
  }

  AudienceIndex index_;
};

using V = std::vector<uint32_t>;

TEST_F(ExpressionTest, SegmentsByKeyOrNameInEitherLanguage) {
  EXPECT_EQ(Eval("segment = \"champions\""), (V{0, 1}));
  EXPECT_EQ(Eval("segment in ['VIPs', \"Stammkunden\"]"), (V{0, 1, 2, 3, 6}));
  EXPECT_EQ(Eval("SEGMENT = 'lost'"), (V{4, 5, 7}));
  EXPECT_EQ(Eval("segment != 'lost'"), (V{0, 1, 2, 3, 6}));
  EXPECT_EQ(Eval("segment not in ['lost', 'loyal']"), (V{0, 1}));
}

TEST_F(ExpressionTest, NumbersCompareExactlyInTheirUnits) {
  EXPECT_EQ(Eval("clv > 200"), (V{0, 1, 3}));
  EXPECT_EQ(Eval("clv >= 200"), (V{0, 1, 2, 3}));
  EXPECT_EQ(Eval("clv > 200.4"), (V{0, 1, 3}));
  EXPECT_EQ(Eval("clv > 200.5"), (V{0, 1}));
  EXPECT_EQ(Eval("clv = 200.50"), (V{3}));
  EXPECT_EQ(Eval("clv = 200.501"), V{});
  EXPECT_EQ(Eval("clv < 0"), (V{6}));
  EXPECT_EQ(Eval("clv <= -5"), (V{6}));
  EXPECT_EQ(Eval("clv != 0"), (V{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Eval("orders >= 3"), (V{0, 1, 2, 3}));
  EXPECT_EQ(Eval("recency_days <= 30"), (V{0, 1, 6}));
  EXPECT_EQ(Eval("r_score in [4,5]"), (V{0, 1, 2, 6}));
  EXPECT_EQ(Eval("f_score not in [1]"), (V{0, 1, 2, 3, 6}));
  EXPECT_EQ(Eval("aov > 65"), (V{0, 1, 2, 3}));  // 520/6 = 86.66, 75, 66.66, 66.83
  EXPECT_EQ(Eval("avg_order_value > 66.7"), (V{0, 1, 3}));
  EXPECT_EQ(Eval("m_score > 100"), V{});
  EXPECT_EQ(Eval("m_score < 100"), (V{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_F(ExpressionTest, CustomersWithoutPurchasesCountOnlyForNot) {
  EXPECT_EQ(Eval("not clv > -100000"), (V{8, 9}));
  EXPECT_EQ(Eval("not segment in ['champions', 'loyal', 'lost']"), (V{8, 9}));
}

TEST_F(ExpressionTest, BoughtCoversTheCategoryAndEverythingBelowIt) {
  EXPECT_EQ(Eval("bought(\"Food > Dairy > Cheese\")"), (V{0, 2, 3}));
  EXPECT_EQ(Eval("bought('food>dairy>cheese')"), (V{0, 2, 3}));
  EXPECT_EQ(Eval("bought('Dairy')"), (V{0, 1, 2, 3}));
  EXPECT_EQ(Eval("bought('Food')"), (V{0, 1, 2, 3}));
  EXPECT_EQ(Eval("bought('Deli')"), (V{4, 6}));
  EXPECT_EQ(Eval("bought('Blue Cheese')"), (V{4}));
  EXPECT_EQ(Eval("bought('Deli > Cheese')"), (V{6}));
}

TEST_F(ExpressionTest, BoughtWithinAWindowWithCountsAndSpend) {
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', within=30d)"), (V{0}));
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', within=90d)"), (V{0, 3}));
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', within=101d)"), (V{0, 2, 3}));
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', within=15w)"), (V{0, 2, 3}));  // 105 days
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', min_count=2)"), (V{0}));
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', within=30d, min_count=2)"), V{});
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', min_spend=35)"), (V{0, 2}));
  EXPECT_EQ(Eval("bought('Food > Dairy > Cheese', min_spend=35.01)"), (V{2}));
  // Two categories bought on the same day count as one day in their parent.
  EXPECT_EQ(Eval("bought('Food', min_count=2)"), (V{0}));
  EXPECT_EQ(Eval("bought('Food', within=90d, min_spend=2.50)"), (V{0, 1, 3}));
  EXPECT_EQ(Eval("bought('Food', within=90d, min_spend=2.51)"), (V{0, 1}));
  EXPECT_EQ(Eval("bought('Deli', within=6m)"), (V{6}));
}

TEST_F(ExpressionTest, AttributesByValueCaseInsensitively) {
  EXPECT_EQ(Eval("region = 'south'"), (V{1, 2}));
  EXPECT_EQ(Eval("REGION = 'North'"), (V{0, 2}));
  EXPECT_EQ(Eval("region != 'south'"), (V{0}));
  EXPECT_EQ(Eval("channel in ['online', 'store']"), (V{3, 4}));
}

TEST_F(ExpressionTest, BooleanOperatorsAndPrecedence) {
  EXPECT_EQ(Eval("segment = 'champions' or segment = 'lost' and clv > 30"), (V{0, 1, 5}));
  EXPECT_EQ(Eval("(segment = 'champions' or segment = 'lost') and clv > 30"), (V{0, 1, 5}));
  EXPECT_EQ(Eval("(segment = 'champions' or segment = 'lost') and clv > 100"), (V{0, 1}));
  EXPECT_EQ(Eval("bought('Dairy') and not bought('Food > Dairy > Milk')"), (V{0, 2}));
  EXPECT_EQ(Eval("not not region = 'north'"), (V{0, 2}));
  EXPECT_EQ(Eval("not (clv > 0 or clv <= 0)"), (V{8, 9}));
}

TEST_F(ExpressionTest, CountsPredicates) {
  auto e = Expression::Parse("a_missing_field = 1", index_);
  EXPECT_FALSE(e.ok());
  auto f = Expression::Parse("segment = 'lost' and (clv > 1 or not bought('Deli')) and orders < 3",
                             index_);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->predicate_count(), 4u);
}

TEST_F(ExpressionTest, SyntaxErrorsSayWhereAndWhatWasExpected) {
  EXPECT_EQ(Error(""), "column 1: expected an expression, found end of expression");
  EXPECT_EQ(Error("   "), "column 4: expected an expression, found end of expression");
  EXPECT_EQ(Error("clv >"), "column 6: expected a number, found end of expression");
  EXPECT_EQ(Error("clv > 200 and"),
            "column 14: expected a field, bought(...), 'not' or '(', found end of expression");
  EXPECT_EQ(Error("(clv > 200"), "column 11: expected ')' or 'and', 'or', found end of expression");
  EXPECT_EQ(Error("clv > 200)"), "column 10: expected 'and', 'or' or end of expression, found ')'");
  EXPECT_EQ(Error("clv 200"),
            "column 5: expected an operator (=, !=, <, <=, >, >=, in), found number 200");
  EXPECT_EQ(Error("clv ! 200"), "column 5: expected '!=' ('!' alone is no operator; use not)");
  EXPECT_EQ(Error("segment in ['lost' 'loyal']"),
            "column 20: expected ',' or ']', found a text in quotes");
  EXPECT_EQ(Error("segment in 'lost'"),
            "column 12: expected '[' to start a list, found a text in quotes");
  EXPECT_EQ(Error("segment = lost"), "column 11: expected a name in quotes, found 'lost'");
  EXPECT_EQ(Error("clv > '200'"), "column 7: expected a number, found a text in quotes");
  EXPECT_EQ(Error("segment = 'lost"), "column 11: unterminated text: expected a closing '");
  EXPECT_EQ(Error("clv > 2.0.0"), "column 7: malformed number 2.0.0");
  EXPECT_EQ(Error("clv > 1234567890123456789"),
            "column 7: number 1234567890123456789 has too many digits (at most 18)");
  EXPECT_EQ(Error("clv > 200 & orders > 1"),
            "column 11: unexpected character: expected a field, a value, an operator, '(' or ')'");
  EXPECT_EQ(Error("segment < 'lost'"), "column 9: segment is compared with =, != or in, not <");
  EXPECT_EQ(Error("not"),
            "column 4: expected a field, bought(...), 'not' or '(', found end of expression");
  EXPECT_EQ(Error("segment not 'x'"),
            "column 13: expected 'in' after 'not', found a text in quotes");
  EXPECT_EQ(Error("  orders>=3AND clv>250"), "column 11: expected a number, found '3AND'");
  // Columns count characters, not bytes.
  EXPECT_EQ(Error("segment in ['lost', 'ü' 'x']"),
            "column 25: expected ',' or ']', found a text in quotes");
}

TEST_F(ExpressionTest, UnknownNamesAreErrorsWithSuggestions) {
  EXPECT_NE(Error("clvv > 200").find("(did you mean 'clv'?)"), std::string::npos);
  EXPECT_NE(Error("regoin = 'north'").find("(did you mean 'region'?)"), std::string::npos);
  EXPECT_EQ(Error("segment = 'VIP'"),
            "column 11: unknown segment 'VIP' (did you mean 'VIPs'?); segments: champions, loyal, "
            "lost");
  EXPECT_EQ(Error("segment in ['lost', 'Stammkunde']"),
            "column 21: unknown segment 'Stammkunde' (did you mean 'Stammkunden'?); segments: "
            "champions, loyal, lost");
  EXPECT_EQ(Error("bought('Chese')"),
            "column 8: unknown category 'Chese' (did you mean 'Cheese'?)");
  EXPECT_EQ(Error("bought('Cheese')"),
            "column 8: category 'Cheese' is ambiguous: 'Food > Dairy > Cheese', 'Deli > Cheese'; "
            "write its full path");
  EXPECT_EQ(
      Error("region = 'sout'"),
      "column 10: no customer has region 'sout' (did you mean 'south'?); values: north, south");
  EXPECT_EQ(Error("bought('Wine', whithin=30d)"),
            "column 16: unknown argument 'whithin' of bought (did you mean 'within'?); expected "
            "within, min_count or min_spend");
  EXPECT_EQ(Error("p_alive > 0.5"),
            "column 1: p_alive needs predictions: the snapshot the index was built from has none "
            "(make one with `tessera snapshots create --predict`)");
}

TEST_F(ExpressionTest, BoughtArgumentErrors) {
  EXPECT_EQ(Error("bought 'Wine'"), "column 8: expected '(' after bought, found a text in quotes");
  EXPECT_EQ(Error("bought(Wine)"), "column 8: expected a category in quotes, found 'Wine'");
  EXPECT_EQ(Error("bought('Wine', within=90)"),
            "column 23: expected a duration such as 90d, 12w or 6m, found number 90");
  EXPECT_EQ(Error("bought('Wine', within=90y)"),
            "column 23: expected a duration such as 90d, 12w or 6m, found '90y'");
  // Found by the fuzzer: twenty digits once overflowed while being read.
  EXPECT_EQ(Error("bought('Wine', within=95299999999999999999d)"),
            "column 23: expected a duration such as 90d, 12w or 6m, found "
            "'95299999999999999999d'");
  EXPECT_EQ(Error("bought('Wine', within=400d)"),
            "column 23: within=400d reaches before the index's window (12m from " +
                FormatIsoDate(kAsOf - 364) + "); the longest is 365d");
  EXPECT_EQ(Error("bought('Wine', min_count=0)"),
            "column 26: min_count takes a whole number from 1 to 100000");
  EXPECT_EQ(Error("bought('Wine', min_count=1.5)"),
            "column 26: min_count takes a whole number from 1 to 100000");
  EXPECT_EQ(Error("bought('Wine', min_spend=-1)"), "column 26: min_spend cannot be negative");
  EXPECT_EQ(Error("bought('Wine', within=30d, within=60d)"), "column 28: within is given twice");
  EXPECT_EQ(Error("bought('Wine', within==30d)"),
            "column 22: expected '=' after within, found '=='");
  EXPECT_EQ(Error("bought('Wine' within=30d)"), "column 15: expected ',' or ')', found 'within'");
}

TEST_F(ExpressionTest, DeepNestingIsRefusedNotACrash) {
  std::string deep(300, '(');
  deep += "clv > 1" + std::string(300, ')');
  EXPECT_NE(Error(deep).find("nests too deeply"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 300; ++i) nots += "not ";
  EXPECT_NE(Error(nots + "clv > 1").find("nests too deeply"), std::string::npos);
  std::string ok(150, '(');
  ok += "clv > 200" + std::string(150, ')');
  EXPECT_EQ(Eval(ok), (V{0, 1, 3}));
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("clv", "CLV"), 0u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

// The details travel in the Status itself: nothing is read back out of the message.
TEST_F(ExpressionTest, ErrorsCarryTheColumnWhatWasExpectedAndTheSuggestionAsDetails) {
  auto d =
      DescribeExpressionError(Expression::Parse("segment = 'lost' and clvv > 1", index_).status());
  EXPECT_EQ(d.expression, 0);
  EXPECT_EQ(d.column, 22);
  EXPECT_EQ(d.suggestion, "clv");
  EXPECT_EQ(d.expected, "");
  d = DescribeExpressionError(Expression::Parse("(clv > 1 x", index_).status());
  EXPECT_EQ(d.column, 10);
  EXPECT_EQ(d.expected, "')' or 'and', 'or'");
  EXPECT_EQ(d.suggestion, "");
  d = DescribeExpressionError(Expression::Parse("segment = 'lost", index_).status());
  EXPECT_EQ(d.column, 11);
  EXPECT_EQ(d.expected, "a closing '");
  d = DescribeExpressionError(Expression::Parse("bought('Milk', whithin=90d)", index_).status());
  EXPECT_EQ(d.suggestion, "within");
  EXPECT_EQ(d.expected, "within, min_count or min_spend");
  // One error's suggestion does not leak into the next.
  d = DescribeExpressionError(Expression::Parse("clv >", index_).status());
  EXPECT_EQ(d.suggestion, "");
  EXPECT_EQ(d.expected, "a number");
  // The message says the same in words; a status of another kind has no details.
  const Status s = Expression::Parse("clvv > 1", index_).status();
  EXPECT_NE(s.message().find("did you mean 'clv'"), std::string::npos) << s.message();
  d = DescribeExpressionError(NotFoundError("the store is gone"));
  EXPECT_EQ(d.column, 0);
  EXPECT_EQ(d.suggestion, "");
}

}  // namespace
}  // namespace tessera::audience
