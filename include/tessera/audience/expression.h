#pragma once

// The audience expression language (docs/audiences.md):
//
//   expr       := term ("or" term)*
//   term       := factor ("and" factor)*
//   factor     := "not" factor | "(" expr ")" | predicate
//   predicate  := field op value | field ["not"] "in" "[" value ("," value)* "]"
//               | "bought" "(" "category" ("," name "=" value)* ")"
//   op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//
// Fields: segment (by key or name, English or German), the numbers of the index (clv, orders,
// recency_days, aov, r_score, f_score, m_score; predicted_clv and p_alive with predictions),
// and attributes (store, region, channel, and attached ones) compared with = != in. Keywords
// and field names are case-insensitive; text in "double" or 'single' quotes. bought() takes
// within= (90d, 12w, 6m; default the whole window), min_count= (days with a purchase in the
// category, default 1) and min_spend= (in the currency, default 0).
//
// Names are resolved against an index when parsed: an unknown field, segment, category or
// attribute value is an error with a suggestion, never an empty result. Every error message
// starts with "column N:" (1-based, in characters) and says what was expected.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/audience/bitmap.h"
#include "tessera/audience/index.h"
#include "tessera/common/status.h"

namespace tessera::audience {

// A parsed expression bound to the index it was parsed against: it must not outlive it.
// Immutable; thread-safe for concurrent Evaluate calls.
class Expression {
 public:
  // Errors: kInvalidArgument ("column N: ..."), for syntax and for names the index lacks.
  static StatusOr<Expression> Parse(std::string_view text, const AudienceIndex& index);

  // The customers the expression selects.
  Bitmap Evaluate() const;
  // Predicates (comparisons, memberships, bought calls) in the expression.
  size_t predicate_count() const;
  // The fields the expression uses, by canonical name ("segment", "clv", an attribute's name,
  // "bought" for any bought() call), sorted: what a grant's allowed fields are checked against.
  const std::vector<std::string>& fields() const { return fields_; }
  // Levels of the deepest category named in a bought() call ("Food > Dairy > Cheese": 3), 0
  // without one: what a grant's category depth is checked against.
  int category_depth() const { return category_depth_; }

  struct Node;

 private:
  const AudienceIndex* index_ = nullptr;
  std::vector<Node> nodes_;  // nodes_.back() is the root
  size_t predicates_ = 0;
  std::vector<std::string> fields_;
  int category_depth_ = 0;
  Bitmap Eval(size_t i, const Bitmap* within) const;
  void Conjuncts(size_t i, std::vector<size_t>* out) const;
};

struct Expression::Node {
  enum class Kind { kAnd, kOr, kNot, kSet, kNumber, kBought, kEmpty };
  Kind kind = Kind::kEmpty;
  size_t left = 0, right = 0;  // children (kNot: left)
  // kSet: the union of these bitmaps; with `negate`, `within` minus that union.
  std::vector<const Bitmap*> sets;
  const Bitmap* within = nullptr;
  bool negate = false;
  // kNumber: values `op` constants[0]; for kEq (= and in) the union of equalities with the
  // constants, for kNe (!= and not in) the customers with a value, minus that union.
  const BitSlicedIndex* number = nullptr;
  CompareOp op = CompareOp::kEq;
  std::vector<int64_t> constants;
  // kBought
  uint32_t category = 0;
  int64_t from_day = 0;
  uint32_t min_count = 1;
  int64_t min_spend_minor = 0;
};

// Levenshtein distance of the ASCII-lower-cased texts; for suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

// The details that an error of Expression::Parse (or of OverlapAudiences and CountAudience)
// carries in its Status, for callers that point at them (the CLI's caret, the API's error
// fields). Its message says the same in words.
inline constexpr std::string_view kErrorExpression = "expression";  // 1-based, of several
inline constexpr std::string_view kErrorColumn = "column";          // 1-based, in characters
inline constexpr std::string_view kErrorExpected = "expected";      // what was expected
inline constexpr std::string_view kErrorSuggestion = "suggestion";  // "did you mean" candidate
struct ExpressionErrorDetails {
  int expression = 0;      // 0 when the error names none
  int column = 0;          // 0 when the error names none
  std::string expected;    // empty when none
  std::string suggestion;  // empty when none
};
ExpressionErrorDetails DescribeExpressionError(const Status& status);

}  // namespace tessera::audience
