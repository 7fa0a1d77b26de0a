#include "tessera/audience/expression.h"

#include <algorithm>
#include <optional>
#include <set>

#include "tessera/analytics/profiles.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/duration.h"
#include "tessera/common/text.h"

namespace tessera::audience {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = AsciiLower(a[i - 1]) == AsciiLower(b[j - 1]);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

ExpressionErrorDetails DescribeExpressionError(const Status& status) {
  ExpressionErrorDetails d;
  d.expression = static_cast<int>(status.IntDetail(kErrorExpression).value_or(0));
  d.column = static_cast<int>(status.IntDetail(kErrorColumn).value_or(0));
  d.expected = status.TextDetail(kErrorExpected).value_or("");
  d.suggestion = status.TextDetail(kErrorSuggestion).value_or("");
  return d;
}

namespace {

enum class Tok {
  kIdent,
  kNumber,
  kDuration,
  kString,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kOp,
  kEnd
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;         // byte offset
  std::string_view text;  // as written
  std::string value;      // kString: unescaped; kDuration: the number and unit
  CompareOp op = CompareOp::kEq;
};

// A decimal number as written: mantissa / 10^decimals.
struct Decimal {
  __int128 mantissa = 0;
  int decimals = 0;
};

// The candidate closest to `wrong`, or "" when none is close.
std::string Closest(std::string_view wrong, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(wrong, c);
    if (d < best_d) {
      best_d = d;
      best = &c;
    }
  }
  if (best == nullptr || best_d > std::max<size_t>(2, wrong.size() / 3)) return "";
  return *best;
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd:
      return "end of expression";
    case Tok::kString:
      return "a text in quotes";
    case Tok::kNumber:
      return fmt::format("number {}", t.text);
    default:
      return fmt::format("'{}'", t.text);
  }
}

class Parser {
 public:
  Parser(std::string_view text, const AudienceIndex& index, std::vector<Expression::Node>* nodes)
      : text_(text), index_(index), nodes_(nodes) {}

  Status Run() {
    TESSERA_RETURN_IF_ERROR(Next());
    if (tok_.kind == Tok::kEnd) return Expected(tok_, "an expression", "end of expression");
    size_t root = 0;
    TESSERA_RETURN_IF_ERROR(ParseOr(&root));
    if (tok_.kind != Tok::kEnd) {
      return Expected(tok_, "'and', 'or' or end of expression", Describe(tok_));
    }
    // The root last, so that Evaluate starts from nodes_.back().
    nodes_->push_back(Expression::Node((*nodes_)[root]));
    return OkStatus();
  }
  size_t predicates() const { return predicates_; }
  std::set<std::string> TakeFields() { return std::move(fields_); }
  int category_depth() const { return category_depth_; }

 private:
  // 1-based column in characters (UTF-8 continuation bytes do not count).
  size_t Column(size_t pos) const {
    size_t col = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++col;
    }
    return col;
  }
  // The error at a token or byte position: "column N: what", with the column, `expected`
  // (when given) and the suggestion of the last Suggest as details of the Status.
  Status Error(const Token& at, std::string_view what, std::string_view expected = {}) const {
    return ErrorAt(at.pos, what, expected);
  }
  Status ErrorAt(size_t pos, std::string_view what, std::string_view expected = {}) const {
    Status s = InvalidArgumentError("column {}: {}", Column(pos), what);
    s.SetDetail(kErrorColumn, static_cast<int64_t>(Column(pos)));
    if (!expected.empty()) s.SetDetail(kErrorExpected, std::string(expected));
    if (!suggestion_.empty()) s.SetDetail(kErrorSuggestion, std::exchange(suggestion_, {}));
    return s;
  }
  // "expected E, found F", with E as the detail kErrorExpected.
  Status Expected(const Token& at, std::string_view expected, std::string_view found) const {
    return Error(at, fmt::format("expected {}, found {}", expected, found), expected);
  }
  // " (did you mean 'x'?)" for the closest candidate, or ""; the candidate becomes the next
  // error's kErrorSuggestion.
  std::string Suggest(std::string_view wrong, const std::vector<std::string>& candidates) const {
    suggestion_ = Closest(wrong, candidates);
    return suggestion_.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion_);
  }

  bool IsKeyword(std::string_view word) const {
    return tok_.kind == Tok::kIdent && EqualsIgnoreCase(tok_.text, word);
  }

  Status Next() {
    size_t& p = pos_;
    while (p < text_.size() && IsAsciiSpace(text_[p])) ++p;
    tok_ = Token{};
    tok_.pos = p;
    if (p >= text_.size()) {
      tok_.kind = Tok::kEnd;
      return OkStatus();
    }
    const char c = text_[p];
    auto single = [&](Tok kind) {
      tok_.kind = kind;
      tok_.text = text_.substr(p, 1);
      ++p;
      return OkStatus();
    };
    auto is_alpha = [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    };
    auto is_digit = [](char ch) { return ch >= '0' && ch <= '9'; };
    if (c == '(') return single(Tok::kLParen);
    if (c == ')') return single(Tok::kRParen);
    if (c == '[') return single(Tok::kLBracket);
    if (c == ']') return single(Tok::kRBracket);
    if (c == ',') return single(Tok::kComma);
    if (c == '=' || c == '!' || c == '<' || c == '>') {
      const size_t start = p;
      const bool eq_next = p + 1 < text_.size() && text_[p + 1] == '=';
      tok_.kind = Tok::kOp;
      if (c == '!' && !eq_next)
        return ErrorAt(start, "expected '!=' ('!' alone is no operator; use not)", "'!='");
      p += eq_next ? 2 : 1;
      tok_.text = text_.substr(start, p - start);
      tok_.op = c == '='   ? CompareOp::kEq
                : c == '!' ? CompareOp::kNe
                : c == '<' ? (eq_next ? CompareOp::kLe : CompareOp::kLt)
                           : (eq_next ? CompareOp::kGe : CompareOp::kGt);
      return OkStatus();
    }
    if (c == '"' || c == '\'') {
      const size_t start = p++;
      std::string value;
      while (true) {
        if (p >= text_.size())
          return ErrorAt(start, fmt::format("unterminated text: expected a closing {}", c),
                         fmt::format("a closing {}", c));
        const char d = text_[p++];
        if (d == c) break;
        if (d == '\\') {
          if (p >= text_.size())
            return ErrorAt(start, fmt::format("unterminated text: expected a closing {}", c),
                           fmt::format("a closing {}", c));
          const char e = text_[p++];
          if (e != '\\' && e != '"' && e != '\'') {
            return ErrorAt(p - 2, "unknown escape: only \\\\, \\\" and \\' are allowed in text");
          }
          value += e;
          continue;
        }
        value += d;
      }
      tok_.kind = Tok::kString;
      tok_.text = text_.substr(start, p - start);
      tok_.value = std::move(value);
      return OkStatus();
    }
    if (is_digit(c) || ((c == '-' || c == '.') && p + 1 < text_.size() &&
                        (is_digit(text_[p + 1]) || text_[p + 1] == '.'))) {
      const size_t start = p;
      if (c == '-') ++p;
      while (p < text_.size() && (is_digit(text_[p]) || text_[p] == '.')) ++p;
      if (p < text_.size() && is_alpha(text_[p])) {
        while (p < text_.size() && (is_alpha(text_[p]) || is_digit(text_[p]))) ++p;
        tok_.kind = Tok::kDuration;
      } else {
        tok_.kind = Tok::kNumber;
      }
      tok_.text = text_.substr(start, p - start);
      return OkStatus();
    }
    if (is_alpha(c)) {
      const size_t start = p;
      while (p < text_.size() && (is_alpha(text_[p]) || is_digit(text_[p]))) ++p;
      tok_.kind = Tok::kIdent;
      tok_.text = text_.substr(start, p - start);
      return OkStatus();
    }
    return ErrorAt(p, "unexpected character: expected a field, a value, an operator, '(' or ')'",
                   "a field, a value, an operator, '(' or ')'");
  }

  size_t Add(Expression::Node n) {
    nodes_->push_back(std::move(n));
    return nodes_->size() - 1;
  }

  Status ParseOr(size_t* out) {
    return ParseChain("or", Expression::Node::Kind::kOr, &Parser::ParseAnd, out);
  }
  Status ParseAnd(size_t* out) {
    return ParseChain("and", Expression::Node::Kind::kAnd, &Parser::ParseFactor, out);
  }
  // operand (keyword operand)*, left-associative.
  Status ParseChain(std::string_view keyword, Expression::Node::Kind kind,
                    Status (Parser::*operand)(size_t*), size_t* out) {
    TESSERA_RETURN_IF_ERROR((this->*operand)(out));
    while (IsKeyword(keyword)) {
      TESSERA_RETURN_IF_ERROR(Next());
      Expression::Node n;
      n.kind = kind;
      n.left = *out;
      TESSERA_RETURN_IF_ERROR((this->*operand)(&n.right));
      *out = Add(std::move(n));
    }
    return OkStatus();
  }

  Status ParseFactor(size_t* out) {
    if (++depth_ > 200)
      return Error(tok_, "the expression nests too deeply (more than 200 levels)");
    Status s = ParseFactorInner(out);
    --depth_;
    return s;
  }

  Status ParseFactorInner(size_t* out) {
    if (IsKeyword("not")) {
      TESSERA_RETURN_IF_ERROR(Next());
      size_t child = 0;
      TESSERA_RETURN_IF_ERROR(ParseFactor(&child));
      Expression::Node n;
      n.kind = Expression::Node::Kind::kNot;
      n.left = child;
      *out = Add(std::move(n));
      return OkStatus();
    }
    if (tok_.kind == Tok::kLParen) {
      TESSERA_RETURN_IF_ERROR(Next());
      TESSERA_RETURN_IF_ERROR(ParseOr(out));
      if (tok_.kind != Tok::kRParen) {
        return Expected(tok_, "')' or 'and', 'or'", Describe(tok_));
      }
      return Next();
    }
    if (tok_.kind != Tok::kIdent || IsKeyword("and") || IsKeyword("or") || IsKeyword("in")) {
      return Expected(tok_, "a field, bought(...), 'not' or '('", Describe(tok_));
    }
    ++predicates_;
    if (IsKeyword("bought")) return ParseBought(out);
    return ParsePredicate(out);
  }

  std::vector<std::string> FieldNames() const {
    std::vector<std::string> names{"segment", "bought"};
    for (const auto& f : index_.numbers()) names.push_back(f.name);
    for (const auto& [name, values] : index_.attributes()) names.push_back(name);
    return names;
  }

  // The operator, or `in` / `not in` (op kEq / kNe with *list set).
  Status ParseOperator(CompareOp* op, bool* list) {
    *list = false;
    if (tok_.kind == Tok::kOp) {
      *op = tok_.op;
      return Next();
    }
    if (IsKeyword("in")) {
      *op = CompareOp::kEq;
      *list = true;
      return Next();
    }
    if (IsKeyword("not")) {
      TESSERA_RETURN_IF_ERROR(Next());
      if (!IsKeyword("in")) return Expected(tok_, "'in' after 'not'", Describe(tok_));
      *op = CompareOp::kNe;
      *list = true;
      return Next();
    }
    return Expected(tok_, "an operator (=, !=, <, <=, >, >=, in)", Describe(tok_));
  }

  // One value, or a bracketed list of them; each value is a token of kind `want`.
  Status ParseValues(bool list, Tok want, const char* what, std::vector<Token>* values) {
    auto one = [&]() -> Status {
      if (tok_.kind != want) {
        return Expected(tok_, what, Describe(tok_));
      }
      values->push_back(tok_);
      return Next();
    };
    if (!list) return one();
    if (tok_.kind != Tok::kLBracket) {
      return Expected(tok_, "'[' to start a list", Describe(tok_));
    }
    TESSERA_RETURN_IF_ERROR(Next());
    TESSERA_RETURN_IF_ERROR(one());
    while (tok_.kind == Tok::kComma) {
      TESSERA_RETURN_IF_ERROR(Next());
      TESSERA_RETURN_IF_ERROR(one());
    }
    if (tok_.kind != Tok::kRBracket) {
      return Expected(tok_, "',' or ']'", Describe(tok_));
    }
    return Next();
  }

  Status ParsePredicate(size_t* out) {
    const Token field = tok_;
    TESSERA_RETURN_IF_ERROR(Next());
    std::string name = AsciiLower(field.text);
    static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
        {"avg_order_value", "aov"},
        {"order_count", "orders"},
        {"recency", "recency_days"},
        {"revenue", "clv"}};
    for (const auto& [alias, real] : kAliases) {
      if (name == alias) name = real;
    }
    const bool is_segment = name == "segment";
    const NumericField* number = index_.FindNumber(name);
    const auto attribute = index_.attributes().find(name);
    const bool is_attribute = attribute != index_.attributes().end();
    if (is_segment || number != nullptr || is_attribute) fields_.insert(name);
    if (!is_segment && number == nullptr && !is_attribute) {
      if ((name == "p_alive" || name == "predicted_clv") && !index_.info().has_predictions) {
        return Error(field, fmt::format("{} needs predictions: the snapshot the index was built "
                                        "from has none (make one with `tessera snapshots create "
                                        "--predict`)",
                                        name));
      }
      return Error(field,
                   fmt::format("unknown field '{}'{}; fields: {}", field.text,
                               Suggest(field.text, FieldNames()), fmt::join(FieldNames(), ", ")));
    }
    const Token op_tok = tok_;
    CompareOp op = CompareOp::kEq;
    bool list = false;
    TESSERA_RETURN_IF_ERROR(ParseOperator(&op, &list));
    Expression::Node n;
    if (number != nullptr) {
      std::vector<Token> values;
      TESSERA_RETURN_IF_ERROR(ParseValues(list, Tok::kNumber, "a number", &values));
      return NumberNode(*number, op, list, values, out);
    }
    if (op != CompareOp::kEq && op != CompareOp::kNe) {
      return Error(op_tok,
                   fmt::format("{} is compared with =, != or in, not {}", name, op_tok.text));
    }
    std::vector<Token> values;
    TESSERA_RETURN_IF_ERROR(ParseValues(list, Tok::kString, "a name in quotes", &values));
    n.kind = Expression::Node::Kind::kSet;
    n.negate = op == CompareOp::kNe;
    if (is_segment) {
      n.within = &index_.profiled();
      for (const Token& v : values) {
        const int i = index_.FindSegment(v.value);
        if (i < 0) {
          std::vector<std::string> known;
          for (const auto& s : index_.segments()) {
            known.push_back(s.key);
            known.push_back(s.name_en);
            known.push_back(s.name_de);
          }
          std::vector<std::string> keys;
          for (const auto& s : index_.segments()) keys.push_back(s.key);
          return Error(v, fmt::format("unknown segment {}{}; segments: {}", v.text,
                                      Suggest(v.value, known), fmt::join(keys, ", ")));
        }
        n.sets.push_back(&index_.segment(static_cast<size_t>(i)));
      }
    } else {
      const auto& map = attribute->second;
      n.within = index_.AttributeAny(name);  // the base of != and not in
      for (const Token& v : values) {
        const Bitmap* found = nullptr;
        for (const auto& [value, b] : map) {
          if (EqualsIgnoreCase(value, v.value)) found = &b;
        }
        if (found == nullptr) {
          std::vector<std::string> known;
          for (const auto& [value, b] : map) known.push_back(value);
          std::string listed;
          for (size_t i = 0; i < known.size() && i < 20; ++i) listed += (i ? ", " : "") + known[i];
          if (known.size() > 20) listed += fmt::format(", ... ({} in all)", known.size());
          return Error(v, fmt::format("no customer has {} {}{}; values: {}", name, v.text,
                                      Suggest(v.value, known), listed));
        }
        n.sets.push_back(found);
      }
    }
    *out = Add(std::move(n));
    return OkStatus();
  }

  Status ParseDecimal(const Token& t, Decimal* d) const {
    std::string_view s = t.text;
    bool negative = false;
    if (!s.empty() && s[0] == '-') {
      negative = true;
      s.remove_prefix(1);
    }
    bool dot = false;
    int digits = 0;
    for (char c : s) {
      if (c == '.') {
        if (dot) return Error(t, fmt::format("malformed number {}", t.text));
        dot = true;
        continue;
      }
      if (++digits > 18)
        return Error(t, fmt::format("number {} has too many digits (at most 18)", t.text));
      d->mantissa = d->mantissa * 10 + (c - '0');
      if (dot) ++d->decimals;
    }
    if (digits == 0) return Error(t, fmt::format("malformed number {}", t.text));
    if (negative) d->mantissa = -d->mantissa;
    return OkStatus();
  }

  static __int128 Pow10(int n) {
    __int128 v = 1;
    while (n-- > 0) v *= 10;
    return v;
  }
  static int64_t Clamp(__int128 v) {
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : static_cast<int64_t>(v);
  }

  Status NumberNode(const NumericField& field, CompareOp op, bool list,
                    const std::vector<Token>& values, size_t* out) {
    Expression::Node n;
    n.kind = Expression::Node::Kind::kNumber;
    n.number = &field.values;
    n.op = op;
    for (const Token& v : values) {
      Decimal d;
      TESSERA_RETURN_IF_ERROR(ParseDecimal(v, &d));
      const __int128 num = d.mantissa * field.scale;
      const __int128 den = Pow10(d.decimals);
      __int128 floor = num / den;
      if (num % den != 0 && num < 0) --floor;
      const bool exact = num % den == 0;
      const __int128 ceil = exact ? floor : floor + 1;
      if (list || op == CompareOp::kEq || op == CompareOp::kNe) {
        // A value between two representable ones equals none of them.
        if (exact) n.constants.push_back(Clamp(floor));
        continue;
      }
      n.constants.push_back(Clamp(op == CompareOp::kGt || op == CompareOp::kLe ? floor : ceil));
    }
    // = and in: the union of equalities; != and not in: those with a value, minus it. Either
    // way op is kEq or kNe over `constants`, evaluated over the candidates when the
    // expression runs.
    if (list) n.op = op == CompareOp::kNe ? CompareOp::kNe : CompareOp::kEq;
    *out = Add(std::move(n));
    return OkStatus();
  }

  Status ParseBought(size_t* out) {
    const Token call = tok_;
    TESSERA_RETURN_IF_ERROR(Next());
    if (tok_.kind != Tok::kLParen) {
      return Expected(tok_, "'(' after bought", Describe(tok_));
    }
    TESSERA_RETURN_IF_ERROR(Next());
    if (tok_.kind != Tok::kString) {
      return Expected(tok_, "a category in quotes", Describe(tok_));
    }
    const Token category = tok_;
    const std::vector<uint32_t> nodes = index_.FindCategory(category.value);
    if (nodes.empty()) {
      std::vector<std::string> names;
      for (const auto& c : index_.categories()) {
        names.push_back(c.name);
        names.push_back(c.path);
      }
      return Error(category, fmt::format("unknown category {}{}", category.text,
                                         Suggest(category.value, names)));
    }
    if (nodes.size() > 1) {
      std::string paths;
      for (size_t i = 0; i < nodes.size() && i < 5; ++i) {
        paths += fmt::format("{}'{}'", i ? ", " : "", index_.categories()[nodes[i]].path);
      }
      return Error(category, fmt::format("category {} is ambiguous: {}; write its full path",
                                         category.text, paths));
    }
    fields_.insert("bought");
    int depth = 1;
    for (int32_t up = index_.categories()[nodes[0]].parent; up >= 0;
         up = index_.categories()[static_cast<size_t>(up)].parent) {
      ++depth;
    }
    category_depth_ = std::max(category_depth_, depth);
    Expression::Node n;
    n.kind = Expression::Node::Kind::kBought;
    n.category = nodes[0];
    n.from_day = index_.info().start_day;
    TESSERA_RETURN_IF_ERROR(Next());
    bool seen[3] = {false, false, false};
    static constexpr const char* kArgs[] = {"within", "min_count", "min_spend"};
    while (tok_.kind == Tok::kComma) {
      TESSERA_RETURN_IF_ERROR(Next());
      if (tok_.kind != Tok::kIdent) {
        return Expected(tok_, "within=, min_count= or min_spend=", Describe(tok_));
      }
      const Token arg = tok_;
      int which = -1;
      for (int i = 0; i < 3; ++i) {
        if (EqualsIgnoreCase(arg.text, kArgs[i])) which = i;
      }
      if (which < 0) {
        return Error(arg,
                     fmt::format("unknown argument '{}' of bought{}; expected within, "
                                 "min_count or min_spend",
                                 arg.text, Suggest(arg.text, {"within", "min_count", "min_spend"})),
                     "within, min_count or min_spend");
      }
      if (seen[which]) return Error(arg, fmt::format("{} is given twice", kArgs[which]));
      seen[which] = true;
      TESSERA_RETURN_IF_ERROR(Next());
      if (tok_.kind != Tok::kOp || tok_.op != CompareOp::kEq || tok_.text != "=") {
        return Expected(tok_, fmt::format("'=' after {}", kArgs[which]), Describe(tok_));
      }
      TESSERA_RETURN_IF_ERROR(Next());
      const Token value = tok_;
      if (which == 0) {
        if (value.kind != Tok::kDuration) {
          return Expected(value, "a duration such as 90d, 12w or 6m", Describe(value));
        }
        TESSERA_ASSIGN_OR_RETURN(n.from_day, FromDay(value));
      } else {
        if (value.kind != Tok::kNumber) {
          return Expected(value, "a number", Describe(value));
        }
        Decimal d;
        TESSERA_RETURN_IF_ERROR(ParseDecimal(value, &d));
        if (d.mantissa < 0) return Error(value, fmt::format("{} cannot be negative", kArgs[which]));
        if (which == 1) {
          if (d.decimals > 0 || d.mantissa < 1 || d.mantissa > 100000) {
            return Error(value, "min_count takes a whole number from 1 to 100000");
          }
          n.min_count = static_cast<uint32_t>(d.mantissa);
        } else {
          const __int128 num = d.mantissa * Pow10(index_.info().currency_exponent);
          const __int128 den = Pow10(d.decimals);
          n.min_spend_minor = Clamp((num + den - 1) / den);  // spend >= x: the next minor unit
        }
      }
      TESSERA_RETURN_IF_ERROR(Next());
    }
    if (tok_.kind != Tok::kRParen) {
      return Expected(tok_, "',' or ')'", Describe(tok_));
    }
    (void)call;
    TESSERA_RETURN_IF_ERROR(Next());
    *out = Add(std::move(n));
    return OkStatus();
  }

  StatusOr<int64_t> FromDay(const Token& t) const {
    // The duration grammar of the whole product; the unit in any case, as keywords are here.
    const auto d = Duration::Parse(AsciiLower(t.text));
    if (!d.ok()) {
      return Expected(t, "a duration such as 90d, 12w or 6m", fmt::format("'{}'", t.text));
    }
    const IndexInfo& info = index_.info();
    const int64_t from = d->StartDay(info.as_of_day);
    if (from < info.start_day) {
      return Error(t, fmt::format("within={} reaches before the index's window ({} from {}); the "
                                  "longest is {}d",
                                  t.text, info.window, FormatIsoDate(info.start_day),
                                  info.as_of_day - info.start_day + 1));
    }
    return from;
  }

  std::string_view text_;
  const AudienceIndex& index_;
  std::vector<Expression::Node>* nodes_;
  Token tok_;
  size_t pos_ = 0;
  int depth_ = 0;
  mutable std::string suggestion_;  // of the last Suggest, for the next error
  size_t predicates_ = 0;
  std::set<std::string> fields_;  // the fields used, by their canonical names
  int category_depth_ = 0;        // of the deepest category named in bought()
};

}  // namespace

StatusOr<Expression> Expression::Parse(std::string_view text, const AudienceIndex& index) {
  if (text.size() > 100000)
    return InvalidArgumentError("column 1: the expression is longer than 100,000 characters");
  Expression e;
  e.index_ = &index;
  Parser p(text, index, &e.nodes_);
  TESSERA_RETURN_IF_ERROR(p.Run());
  e.predicates_ = p.predicates();
  const std::set<std::string> fields = p.TakeFields();
  e.fields_.assign(fields.begin(), fields.end());
  e.category_depth_ = p.category_depth();
  return e;
}

size_t Expression::predicate_count() const { return predicates_; }

Bitmap Expression::Evaluate() const { return Eval(nodes_.size() - 1, nullptr); }

void Expression::Conjuncts(size_t i, std::vector<size_t>* out) const {
  if (nodes_[i].kind == Node::Kind::kAnd) {
    Conjuncts(nodes_[i].left, out);
    Conjuncts(nodes_[i].right, out);
  } else {
    out->push_back(i);
  }
}

// Eval(i, within) is the node's set intersected with *within (the node's set itself when
// within is null). An `and` passes what its cheap members leave to the expensive ones: number
// comparisons then walk their bit slices over those candidates only, not over every customer.
Bitmap Expression::Eval(size_t i, const Bitmap* within) const {
  const Node& n = nodes_[i];
  switch (n.kind) {
    case Node::Kind::kAnd: {
      std::vector<size_t> conjuncts;
      Conjuncts(i, &conjuncts);
      // Bitmaps the index holds first, the smallest first and without copying them; then
      // memberships of several values, negations, number comparisons and the rest (postings,
      // nested or-groups), each over the candidates left.
      std::vector<const Bitmap*> held;
      std::vector<size_t> sets, negations, numbers, others;
      for (size_t c : conjuncts) {
        const Node& m = nodes_[c];
        const Bitmap* standard =
            m.kind == Node::Kind::kBought
                ? index_->StandardBought(m.category, m.from_day, m.min_count, m.min_spend_minor)
                : nullptr;
        if (m.kind == Node::Kind::kSet && !m.negate && m.sets.size() == 1) {
          held.push_back(m.sets[0]);
        } else if (standard != nullptr) {
          held.push_back(standard);
        } else if (m.kind == Node::Kind::kSet) {
          sets.push_back(c);
        } else if (m.kind == Node::Kind::kNot) {
          negations.push_back(m.left);
        } else if (m.kind == Node::Kind::kNumber) {
          numbers.push_back(c);
        } else {
          others.push_back(c);
        }
      }
      std::sort(held.begin(), held.end(), [](const Bitmap* a, const Bitmap* b) {
        return a->Cardinality() < b->Cardinality();
      });
      Bitmap result;
      size_t next = 0;
      if (within != nullptr) {
        result = within->Copy();
      } else if (held.size() >= 2) {
        result = held[0]->And(*held[1]);
        next = 2;
      } else if (held.size() == 1) {
        result = held[0]->Copy();
        next = 1;
      } else {
        result = index_->universe().Copy();
      }
      for (; next < held.size(); ++next) result.AndInPlace(*held[next]);
      for (size_t c : sets) result = Eval(c, &result);
      for (size_t c : negations) result.AndNotInPlace(Eval(c, &result));
      for (size_t c : numbers) result = Eval(c, &result);
      for (size_t c : others) result = Eval(c, &result);
      return result;
    }
    case Node::Kind::kOr: {
      Bitmap left = Eval(n.left, within);
      left.OrInPlace(Eval(n.right, within));
      return left;
    }
    case Node::Kind::kNot: {
      Bitmap base = within != nullptr ? within->Copy() : index_->universe().Copy();
      base.AndNotInPlace(Eval(n.left, within));
      return base;
    }
    case Node::Kind::kSet: {
      if (within != nullptr) {  // work on the candidates, never on whole value bitmaps
        if (n.negate) {
          Bitmap r = within->And(*n.within);
          for (const Bitmap* b : n.sets) r.AndNotInPlace(*b);
          return r;
        }
        Bitmap u;
        for (const Bitmap* b : n.sets) u.OrInPlace(within->And(*b));
        return u;
      }
      Bitmap u;
      for (const Bitmap* b : n.sets) u.OrInPlace(*b);
      return n.negate ? n.within->AndNot(u) : std::move(u);
    }
    case Node::Kind::kNumber: {
      if (n.op != CompareOp::kEq && n.op != CompareOp::kNe) {
        return n.number->Compare(n.op, n.constants[0], within);
      }
      Bitmap equal;
      for (int64_t c : n.constants) equal.OrInPlace(n.number->Compare(CompareOp::kEq, c, within));
      if (n.op == CompareOp::kEq) return equal;
      Bitmap base = within != nullptr ? n.number->exists().And(*within) : n.number->exists().Copy();
      base.AndNotInPlace(equal);
      return base;
    }
    case Node::Kind::kBought: {
      if (const Bitmap* b =
              index_->StandardBought(n.category, n.from_day, n.min_count, n.min_spend_minor)) {
        return within != nullptr ? within->And(*b) : b->Copy();
      }
      return index_->Bought(n.category, n.from_day, n.min_count, n.min_spend_minor, within);
    }
    case Node::Kind::kEmpty:
      return Bitmap();
  }
  return Bitmap();
}

}  // namespace tessera::audience
