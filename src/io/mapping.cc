#include "tessera/io/mapping.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tessera/common/text.h"
#include "tessera/io/columns.h"

namespace tessera::io {
namespace internal {
extern const std::pair<std::string_view, std::string_view> kEmbeddedConfig[];
extern const int kEmbeddedConfigCount;
}  // namespace internal

namespace {

constexpr std::string_view kFieldNames[kFieldCount] = {
    "order_id", "customer_id", "email",           "ordered_at",  "amount", "quantity", "unit_price",
    "currency", "status",      "category",        "sku",         "store",  "region",   "channel",
    "phone",    "order_total", "refunded_amount", "cancelled_at"};

std::string Where(std::string_view origin, const toml::node& node) {
  const auto& src = node.source();
  return fmt::format("{}:{}:{}", origin, src.begin.line, src.begin.column);
}

Status StringList(const toml::node& node, std::string_view origin, std::string_view key,
                  std::vector<std::string>* out) {
  out->clear();
  if (auto s = node.value<std::string>()) {
    if (!s->empty()) out->push_back(*s);
    return OkStatus();
  }
  if (const toml::array* arr = node.as_array()) {
    for (const toml::node& item : *arr) {
      auto s = item.value<std::string>();
      if (!s) return InvalidArgumentError("{}: {} must list strings", Where(origin, item), key);
      out->push_back(*s);
    }
    return OkStatus();
  }
  return InvalidArgumentError("{}: {} must be a string or a list of strings", Where(origin, node),
                              key);
}

Status ParseSource(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    auto str = node.value<std::string>();
    if (k == "format") {
      if (str == "auto")
        m->source.format = InputFormat::kAuto;
      else if (str == "csv")
        m->source.format = InputFormat::kCsv;
      else if (str == "jsonl")
        m->source.format = InputFormat::kJsonLines;
      else
        return InvalidArgumentError("{}: format must be auto, csv or jsonl", Where(origin, node));
    } else if (k == "delimiter") {
      if (str == "auto")
        m->source.csv.delimiter = 0;
      else if (str == "whitespace")
        m->source.csv.whitespace_separated = true;
      else if (str && (*str == "," || *str == ";" || *str == "\t" || *str == "|"))
        m->source.csv.delimiter = (*str)[0];
      else
        return InvalidArgumentError(
            "{}: delimiter must be auto, \",\", \";\", \"\\t\", \"|\" or whitespace",
            Where(origin, node));
    } else if (k == "header") {
      // as_boolean(), not value<bool>(): value() would read header = 1 as true.
      const auto* b = node.as_boolean();
      if (b == nullptr)
        return InvalidArgumentError("{}: header must be true or false", Where(origin, node));
      m->source.csv.has_header = b->get();
    } else if (k == "level") {
      if (str == "order")
        m->level = RowLevel::kOrder;
      else if (str == "line")
        m->level = RowLevel::kLine;
      else
        return InvalidArgumentError("{}: level must be order or line", Where(origin, node));
    } else if (k == "decimal") {
      if (str == "point")
        m->decimal_mark = DecimalMark::kPoint;
      else if (str == "comma")
        m->decimal_mark = DecimalMark::kComma;
      else if (str == "auto")
        m->decimal_mark.reset();
      else
        return InvalidArgumentError("{}: decimal must be point, comma or auto",
                                    Where(origin, node));
    } else if (k == "detect") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->detect));
    } else if (k == "order_fields") {
      if (str == "first_line")
        m->order_fields_on_first_line = true;
      else if (str == "every_line")
        m->order_fields_on_first_line = false;
      else
        return InvalidArgumentError("{}: order_fields must be every_line or first_line",
                                    Where(origin, node));
    } else {
      return InvalidArgumentError(
          "{}: unknown key [source].{} (known: format, delimiter, header, level, decimal, "
          "order_fields, detect)",
          Where(origin, node), k);
    }
  }
  return OkStatus();
}

Status ParseColumns(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    const auto it = std::find(std::begin(kFieldNames), std::end(kFieldNames), k);
    if (it == std::end(kFieldNames)) {
      return InvalidArgumentError(
          "{}: unknown field [columns].{} (known: order_id, customer_id, email, phone, "
          "ordered_at, amount, quantity, unit_price, currency, status, category, sku, store, "
          "region, channel, order_total, refunded_amount, cancelled_at)",
          Where(origin, node), k);
    }
    TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->columns[it - std::begin(kFieldNames)]));
  }
  return OkStatus();
}

Status ParseValues(const toml::table& t, std::string_view origin, Mapping* m) {
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    auto str = node.value<std::string>();
    // A named reference: clang before 16 cannot capture structured bindings.
    const toml::node& value_node = node;
    auto need_string = [&]() -> Status {
      if (!str)
        return InvalidArgumentError("{}: {} must be a string", Where(origin, value_node), k);
      return OkStatus();
    };
    if (k == "timestamp_format") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->timestamp_format = *str;
    } else if (k == "timezone") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->timezone = *str;
    } else if (k == "currency") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->currency = *str;
    } else if (k == "cancel_prefix") {
      TESSERA_RETURN_IF_ERROR(need_string());
      m->cancel_prefix = *str;
    } else if (k == "void_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->void_statuses));
    } else if (k == "credit_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->credit_statuses));
    } else if (k == "ignore_statuses") {
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &m->ignore_statuses));
    } else if (k == "default_phone_country") {
      // A bare number (49) is a calling code too; TOML would read it as an integer.
      std::string country;
      if (str) {
        country = *str;
      } else if (auto n = node.value_exact<int64_t>()) {
        country = std::to_string(*n);
      } else {
        return InvalidArgumentError("{}: default_phone_country must be a string such as \"DE\"",
                                    Where(origin, node));
      }
      if (country.empty()) {
        m->default_phone_country.reset();
        continue;
      }
      auto found = FindPhoneCountry(country);
      if (!found.ok()) {
        return InvalidArgumentError("{}: default_phone_country: {}", Where(origin, node),
                                    found.status().message());
      }
      m->default_phone_country = *std::move(found);
    } else if (k == "bare_phone_numbers") {
      if (str == "national")
        m->bare_phone_numbers_international = false;
      else if (str == "international")
        m->bare_phone_numbers_international = true;
      else
        return InvalidArgumentError("{}: bare_phone_numbers must be national or international",
                                    Where(origin, node));
    } else {
      return InvalidArgumentError(
          "{}: unknown key [values].{} (known: timestamp_format, timezone, currency, "
          "cancel_prefix, void_statuses, credit_statuses, ignore_statuses, "
          "default_phone_country, bare_phone_numbers)",
          Where(origin, node), k);
    }
  }
  for (auto* list : {&m->void_statuses, &m->credit_statuses, &m->ignore_statuses}) {
    for (auto& s : *list) s = AsciiLower(s);
  }
  return OkStatus();
}

// Column names that hold identifiers or name a person, whatever the mapping says: a people
// file's column of this name is never an attribute (people_reader.h, "Privacy").
constexpr std::string_view kPersonalColumnNames[] = {
    "customer_id",   "customer_number", "customer_no", "customerid",    "client_id",
    "subscriber_id", "contract_id",     "email",       "e_mail",        "e-mail",
    "mail",          "customer_email",  "phone",       "phone_number",  "mobile",
    "msisdn",        "telephone",       "tel",         "name",          "first_name",
    "firstname",     "last_name",       "lastname",    "surname",       "full_name",
    "street",        "address",         "birthday",    "date_of_birth", "birth_date",
    "iban"};

// [attributes]: `columns = [...]` (attributes named as their columns), `other_columns = true`,
// and `name = "column"` or a list of candidate columns.
Status ParseAttributes(const toml::table& t, std::string_view origin, Mapping* m) {
  const auto add = [&](const toml::node& node, std::string name,
                       std::vector<std::string> columns) -> Status {
    if (!IsAttributeName(name)) {
      return InvalidArgumentError(
          "{}: '{}' is no attribute name (1 to 64 lower-case letters, digits and _, starting "
          "with a letter); name it in the mapping: [attributes] some_name = \"{}\"",
          Where(origin, node), name, name);
    }
    for (const AttributeMapping& a : m->attributes) {
      if (a.name == name) {
        return InvalidArgumentError("{}: attribute '{}' is named twice", Where(origin, node), name);
      }
    }
    if (columns.empty()) {
      return InvalidArgumentError("{}: attribute '{}' names no column", Where(origin, node), name);
    }
    if (m->attributes.size() >= kMaxAttributes) {
      return InvalidArgumentError("{}: more than {} attributes", Where(origin, node),
                                  kMaxAttributes);
    }
    m->attributes.push_back(AttributeMapping{std::move(name), std::move(columns)});
    return OkStatus();
  };
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    if (k == "other_columns") {
      const auto* b = node.as_boolean();
      if (b == nullptr) {
        return InvalidArgumentError("{}: other_columns must be true or false", Where(origin, node));
      }
      m->attributes_from_other_columns = b->get();
    } else if (k == "columns") {
      std::vector<std::string> columns;
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &columns));
      for (const std::string& c : columns) {
        TESSERA_RETURN_IF_ERROR(add(node, AsciiLower(TrimWhitespace(c)), {c}));
      }
    } else {
      std::vector<std::string> columns;
      TESSERA_RETURN_IF_ERROR(StringList(node, origin, k, &columns));
      TESSERA_RETURN_IF_ERROR(add(node, k, std::move(columns)));
    }
  }
  return OkStatus();
}

}  // namespace

bool IsAttributeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string_view FieldName(Field f) { return kFieldNames[static_cast<size_t>(f)]; }

std::optional<std::string_view> EmbeddedConfig(std::string_view name) {
  for (int i = 0; i < internal::kEmbeddedConfigCount; ++i) {
    if (internal::kEmbeddedConfig[i].first == name) return internal::kEmbeddedConfig[i].second;
  }
  return std::nullopt;
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (int i = 0; i < internal::kEmbeddedConfigCount; ++i) {
    std::string_view n = internal::kEmbeddedConfig[i].first;
    if (n.starts_with("mappings/") && n.ends_with(".toml")) {
      names.emplace_back(n.substr(9, n.size() - 9 - 5));
    }
  }
  return names;
}

StatusOr<Mapping> ParseMapping(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string(origin));
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError("{}:{}:{}: {}", origin, e.source().begin.line,
                                e.source().begin.column, e.description());
  }
  Mapping m;
  m.name = std::string(origin);
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    const toml::table* t = node.as_table();
    if (t == nullptr || (k != "source" && k != "columns" && k != "values" && k != "attributes")) {
      return InvalidArgumentError(
          "{}: unknown section '{}' (known: [source], [columns], [values], [attributes])",
          Where(origin, node), k);
    }
    if (k == "source") TESSERA_RETURN_IF_ERROR(ParseSource(*t, origin, &m));
    if (k == "columns") TESSERA_RETURN_IF_ERROR(ParseColumns(*t, origin, &m));
    if (k == "values") TESSERA_RETURN_IF_ERROR(ParseValues(*t, origin, &m));
    if (k == "attributes") TESSERA_RETURN_IF_ERROR(ParseAttributes(*t, origin, &m));
  }
  TESSERA_ASSIGN_OR_RETURN(auto ts, TimestampParser::Create(m.timestamp_format, m.timezone));
  (void)ts;  // validated here so that a bad format fails before any file is read
  return m;
}

StatusOr<Mapping> LoadMapping(std::string_view preset_or_path) {
  const std::string key = "mappings/" + std::string(preset_or_path) + ".toml";
  if (auto text = EmbeddedConfig(key)) return ParseMapping(*text, preset_or_path);
  const std::string path(preset_or_path);
  std::error_code ec;
  // A directory opens as an empty stream, which would parse as a mapping without columns.
  std::ifstream in;
  if (!std::filesystem::is_directory(path, ec)) in.open(path);
  if (!in.is_open() || !in) {
    std::string presets;
    for (const auto& n : PresetNames()) presets += (presets.empty() ? "" : ", ") + n;
    return NotFoundError("mapping '{}' is neither a preset ({}) nor a readable file", path,
                         presets);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseMapping(buffer.str(), path);
}

StatusOr<ResolvedMapping> ResolveMapping(const Mapping& mapping,
                                         const std::vector<std::string>& columns, char delimiter) {
  ResolvedMapping r;
  r.index.fill(-1);
  std::vector<std::string> lower_columns;
  for (const auto& c : columns) lower_columns.push_back(AsciiLower(c));
  for (size_t f = 0; f < kFieldCount; ++f) {
    for (const auto& candidate : mapping.columns[f]) {
      const std::string lc = AsciiLower(candidate);
      // JSON Lines columns are the first object's keys: a field it lacks stays unmapped.
      const auto it = std::find(lower_columns.begin(), lower_columns.end(), lc);
      if (it == lower_columns.end()) continue;
      // Two columns of the name the mapping uses: which one holds the value is anyone's guess.
      if (const auto again = std::find(it + 1, lower_columns.end(), lc);
          again != lower_columns.end()) {
        return InvalidArgumentError(
            "column '{}' appears twice (columns {} and {}); rename one, or map the field to "
            "another column with --mapping",
            columns[static_cast<size_t>(it - lower_columns.begin())],
            it - lower_columns.begin() + 1, again - lower_columns.begin() + 1);
      }
      r.index[f] = static_cast<int>(r.selected.size());
      // The file's own spelling, so that rejects name the column as the user sees it.
      r.selected.push_back(columns[static_cast<size_t>(it - lower_columns.begin())]);
      break;
    }
  }
  auto has = [&](Field f) { return r.index[static_cast<size_t>(f)] >= 0; };
  std::vector<std::string> missing;
  if (!has(Field::kCustomerId) && !has(Field::kEmail) && !has(Field::kPhone)) {
    missing.push_back("customer_id, email or phone");
  }
  if (!has(Field::kOrderedAt)) missing.push_back("ordered_at");
  if (!has(Field::kAmount) && !has(Field::kUnitPrice) && !has(Field::kOrderTotal)) {
    missing.push_back("amount, order_total or unit_price");
  }
  if (!missing.empty()) {
    std::string need;
    for (const auto& m : missing) need += (need.empty() ? "" : "; ") + m;
    const ColumnsDescription found = DescribeColumns(columns);
    return InvalidArgumentError(
        "cannot map the columns with mapping '{}': no column for {}. Columns found: {}.{} Pass "
        "--mapping with a preset or a mapping file that names them",
        mapping.name, need, found.text,
        found.looks_like_data ? " Does the file start with a header row? If not, set header = "
                                "false in a mapping file."
                              : "");
  }
  if (mapping.level) {
    r.level = *mapping.level;
  } else {
    r.level =
        has(Field::kQuantity) || has(Field::kUnitPrice) || has(Field::kSku) || has(Field::kCategory)
            ? RowLevel::kLine
            : RowLevel::kOrder;
  }
  r.decimal_mark =
      mapping.decimal_mark.value_or(delimiter == ';' ? DecimalMark::kComma : DecimalMark::kPoint);
  return r;
}

StatusOr<std::optional<std::string>> DetectPreset(const std::vector<std::string>& columns) {
  std::set<std::string> have;
  for (const auto& c : columns) have.insert(AsciiLower(TrimWhitespace(c)));
  std::vector<std::string> found;
  for (const std::string& name : PresetNames()) {
    auto preset = LoadMapping(name);
    if (!preset.ok() || preset->detect.empty()) continue;
    const bool all = std::all_of(preset->detect.begin(), preset->detect.end(), [&](const auto& c) {
      return have.contains(AsciiLower(TrimWhitespace(c)));
    });
    if (all) found.push_back(name);
  }
  if (found.empty()) return std::optional<std::string>();
  if (found.size() > 1) {
    std::string names;
    for (const auto& n : found) names += (names.empty() ? "" : ", ") + n;
    return InvalidArgumentError(
        "the header fits more than one preset ({}); pass --mapping with the one that made the "
        "file",
        names);
  }
  return std::optional<std::string>(found[0]);
}

StatusOr<std::optional<std::string>> DetectPresetOfFile(const std::string& path) {
  if (path == "-") return std::optional<std::string>();
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source, RowSource::Open(path, {}));
  auto preset = DetectPreset(source->columns());
  if (!preset.ok()) return preset.status().WithContext(path);
  return preset;
}

StatusOr<PresetChoice> ChooseOrderPreset(const std::vector<std::string>& files) {
  std::optional<std::string> chosen;
  std::string chosen_file, generic_file;
  for (const std::string& path : files) {
    auto preset = DetectPresetOfFile(path);
    if (!preset.ok()) {
      if (preset.status().code() == StatusCode::kInvalidArgument &&
          preset.status().message().find("more than one preset") != std::string::npos) {
        return preset.status();
      }
      continue;  // unreadable: the load says why
    }
    if (path == "-") continue;
    if (!preset->has_value()) {
      if (generic_file.empty()) generic_file = path;
    } else if (!chosen) {
      chosen = **preset;
      chosen_file = path;
    } else if (*chosen != **preset) {
      return InvalidArgumentError(
          "{} is a {} export and {} a {} export: load them separately, or pass --mapping",
          chosen_file, *chosen, path, **preset);
    }
  }
  if (chosen && !generic_file.empty()) {
    return InvalidArgumentError(
        "{} is a {} export but {} is not: load them separately, or pass --mapping", chosen_file,
        *chosen, generic_file);
  }
  if (chosen) return PresetChoice{*chosen, true};
  return PresetChoice{"generic", false};
}

StatusOr<ResolvedPeopleMapping> ResolvePeopleMapping(const Mapping& mapping,
                                                     const std::vector<std::string>& columns) {
  ResolvedPeopleMapping r;
  std::vector<std::string> lower_columns;
  for (const auto& c : columns) lower_columns.push_back(AsciiLower(TrimWhitespace(c)));
  std::vector<bool> used(columns.size(), false);
  const auto describe = [&] {
    const ColumnsDescription found = DescribeColumns(columns);
    return fmt::format("Columns found: {}.{}", found.text,
                       found.looks_like_data ? " Does the file start with a header row? If "
                                               "not, set header = false in a mapping file."
                                             : "");
  };
  // The first candidate present, as an index into `columns`; -1 for none.
  const auto find = [&](const std::vector<std::string>& candidates) -> StatusOr<int> {
    for (const auto& candidate : candidates) {
      const std::string lc = AsciiLower(TrimWhitespace(candidate));
      const auto it = std::find(lower_columns.begin(), lower_columns.end(), lc);
      if (it == lower_columns.end()) continue;
      if (const auto again = std::find(it + 1, lower_columns.end(), lc);
          again != lower_columns.end()) {
        return InvalidArgumentError(
            "column '{}' appears twice (columns {} and {}); rename one, or map it to another "
            "column with --mapping",
            columns[static_cast<size_t>(it - lower_columns.begin())],
            it - lower_columns.begin() + 1, again - lower_columns.begin() + 1);
      }
      return static_cast<int>(it - lower_columns.begin());
    }
    return -1;
  };
  const auto select = [&](int column) {
    used[static_cast<size_t>(column)] = true;
    r.selected.push_back(columns[static_cast<size_t>(column)]);
    return static_cast<int>(r.selected.size() - 1);
  };
  // Every column any identifier field may be read from, and every column whose name says it
  // holds an identifier or names a person: never an attribute, so that a mapping cannot store
  // one as it is.
  std::vector<bool> identifier_like(columns.size(), false);
  for (size_t c = 0; c < lower_columns.size(); ++c) {
    identifier_like[c] = std::find(std::begin(kPersonalColumnNames), std::end(kPersonalColumnNames),
                                   lower_columns[c]) != std::end(kPersonalColumnNames);
  }
  constexpr Field kIdentifiers[] = {Field::kCustomerId, Field::kEmail, Field::kPhone};
  for (size_t k = 0; k < 3; ++k) {
    const auto& candidates = mapping.columns[static_cast<size_t>(kIdentifiers[k])];
    for (const auto& candidate : candidates) {
      const std::string lc = AsciiLower(TrimWhitespace(candidate));
      for (size_t c = 0; c < lower_columns.size(); ++c) {
        if (lower_columns[c] == lc) identifier_like[c] = true;
      }
    }
    TESSERA_ASSIGN_OR_RETURN(const int column, find(candidates));
    if (column >= 0) r.identifier[k] = select(column);
  }
  if (r.identifier[0] < 0 && r.identifier[1] < 0 && r.identifier[2] < 0) {
    return InvalidArgumentError(
        "cannot map the columns with mapping '{}': no column for customer_id, email or phone "
        "(a file of people needs at least one). {} Pass --mapping with a preset or a mapping "
        "file that names them",
        mapping.name, describe());
  }
  const auto add_attribute = [&](const std::string& name, int column) -> Status {
    if (identifier_like[static_cast<size_t>(column)] || used[static_cast<size_t>(column)]) {
      return InvalidArgumentError(
          "mapping '{}': column '{}' cannot be attribute '{}': it holds an identifier, a "
          "person's name or address, or another attribute (identifiers are pseudonymized, "
          "never stored as they are)",
          mapping.name, columns[static_cast<size_t>(column)], name);
    }
    if (std::find(r.attribute_names.begin(), r.attribute_names.end(), name) !=
        r.attribute_names.end()) {
      return InvalidArgumentError("mapping '{}': two columns would be attribute '{}'", mapping.name,
                                  name);
    }
    if (r.attribute_names.size() >= kMaxAttributes) {
      return InvalidArgumentError("mapping '{}': more than {} attribute columns", mapping.name,
                                  kMaxAttributes);
    }
    r.attribute_names.push_back(name);
    r.attribute_index.push_back(select(column));
    return OkStatus();
  };
  for (const AttributeMapping& a : mapping.attributes) {
    TESSERA_ASSIGN_OR_RETURN(const int column, find(a.columns));
    if (column < 0) {
      std::string wanted;
      for (const auto& c : a.columns) wanted += (wanted.empty() ? "'" : ", '") + c + "'";
      return InvalidArgumentError(
          "cannot map the columns with mapping '{}': no column {} for attribute '{}'. {}",
          mapping.name, wanted, a.name, describe());
    }
    TESSERA_RETURN_IF_ERROR(add_attribute(a.name, column));
  }
  if (mapping.attributes_from_other_columns) {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (used[c] || identifier_like[c]) continue;
      const std::string& name = lower_columns[c];
      if (!IsAttributeName(name)) {
        // The name of a header cell, unless the first row looks like data.
        const bool data = DescribeColumns(columns).looks_like_data;
        return InvalidArgumentError(
            "mapping '{}': column {}{} is no attribute name (1 to 64 lower-case letters, digits "
            "and _, starting with a letter); name its attribute in a mapping file: [attributes] "
            "some_name = \"<column>\"{}",
            mapping.name, c + 1, data ? "" : " ('" + columns[c] + "')",
            data ? ". The first row looks like data: does the file start with a header row?" : "");
      }
      TESSERA_RETURN_IF_ERROR(add_attribute(name, static_cast<int>(c)));
    }
  }
  return r;
}

}  // namespace tessera::io
