#include "tessera/io/row_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "io/row_source_internal.h"

namespace tessera::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// One Next() result, copied out of the source's buffer.
struct Result {
  bool ok = false;
  uint64_t line = 0;
  std::vector<std::string> fields;
  std::vector<bool> present;
  uint32_t column = 0;
  std::string column_name;
  std::string reason;

  bool operator==(const Result&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  os << (r.ok ? "row" : "error") << " line " << r.line;
  if (r.ok) {
    for (const auto& f : r.fields) os << " [" << f << "]";
  } else {
    os << " column " << r.column << " (" << r.column_name << "): " << r.reason;
  }
  return os;
}

Result RowResult(uint64_t line, std::vector<std::string> fields) {
  Result r;
  r.ok = true;
  r.line = line;
  r.present.assign(fields.size(), true);
  r.fields = std::move(fields);
  return r;
}

Result ErrorResult(uint64_t line, uint32_t column, std::string column_name, std::string reason) {
  Result r;
  r.line = line;
  r.column = column;
  r.column_name = std::move(column_name);
  r.reason = std::move(reason);
  return r;
}

std::string WriteTempFile(const std::string& contents, const std::string& suffix = ".csv") {
  static std::atomic<int> counter{0};
  const std::string path = ::testing::TempDir() + "row_source_test_" + std::to_string(::getpid()) +
                           "_" + std::to_string(counter++) + suffix;
  std::ofstream out(path, std::ios::binary);
  out << contents;
  return path;
}

std::string WriteGzipFile(const std::string& contents, const std::string& suffix = ".csv.gz") {
  const std::string path = WriteTempFile("", suffix);
  gzFile gz = gzopen(path.c_str(), "wb");
  EXPECT_NE(gz, nullptr);
  EXPECT_EQ(gzwrite(gz, contents.data(), static_cast<unsigned>(contents.size())),
            static_cast<int>(contents.size()));
  gzclose(gz);
  return path;
}

std::vector<Result> ReadAllWithBlockSize(const std::string& path, const SourceOptions& options,
                                         const std::vector<std::string>* names, size_t block_size) {
  auto source = internal::OpenRowSource(path, options, block_size);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  if (!source.ok()) return {};
  if (names != nullptr) {
    const Status status = (*source)->Select(*names);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  std::vector<Result> results;
  Row row;
  RowError error;
  bool ok = false;
  while ((*source)->Next(&row, &error, &ok)) {
    Result r;
    r.ok = ok;
    if (ok) {
      r.line = row.line;
      r.fields.assign(row.fields.begin(), row.fields.end());
      r.present = row.present;
    } else {
      r.line = error.line;
      r.column = error.column;
      r.column_name = error.column_name;
      r.reason = error.reason;
    }
    results.push_back(std::move(r));
  }
  return results;
}

// Reads every row of `path`, selecting `names` (all columns when null). Reads the file a
// second time with 5-byte blocks, so every row crosses a buffer refill, and expects the same.
std::vector<Result> ReadAll(const std::string& path, const SourceOptions& options = {},
                            const std::vector<std::string>* names = nullptr) {
  std::vector<Result> results = ReadAllWithBlockSize(path, options, names, 1 << 20);
  EXPECT_EQ(results, ReadAllWithBlockSize(path, options, names, 5)) << "with tiny blocks";
  return results;
}

std::vector<Result> ReadCsv(const std::string& contents, const SourceOptions& options = {},
                            const std::vector<std::string>* names = nullptr) {
  return ReadAll(WriteTempFile(contents), options, names);
}

std::vector<std::string> Columns(const std::string& path, const SourceOptions& options = {}) {
  auto source = RowSource::Open(path, options);
  EXPECT_TRUE(source.ok()) << source.status().ToString();
  return source.ok() ? (*source)->columns() : std::vector<std::string>{};
}

SourceOptions JsonOptions() {
  SourceOptions options;
  options.format = InputFormat::kJsonLines;
  return options;
}

// ---- CSV ----

TEST(CsvSource, ReadsQuotedFieldsContainingDelimitersAndNewlines) {
  EXPECT_THAT(
      ReadCsv("id,note,amount\n1,\"a, b\",3\n2,\"line one\nline two\",4\n3,c,5\n"),
      ElementsAre(RowResult(2, {"1", "a, b", "3"}), RowResult(3, {"2", "line one\nline two", "4"}),
                  RowResult(5, {"3", "c", "5"})));
}

TEST(CsvSource, UnescapesDoubledQuotes) {
  EXPECT_THAT(ReadCsv("a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n"),
              ElementsAre(RowResult(2, {"say \"hi\"", "\""})));
}

TEST(CsvSource, DropsTheCarriageReturnOfCrlfLineEndings) {
  EXPECT_THAT(
      ReadCsv("a,b\r\n1,2\r\n\"x\",\"y\"\r\n3,\r\n"),
      ElementsAre(RowResult(2, {"1", "2"}), RowResult(3, {"x", "y"}), RowResult(4, {"3", ""})));
}

TEST(CsvSource, KeepsCrlfInsideQuotedFields) {
  EXPECT_THAT(ReadCsv("a\r\n\"1\r\n2\"\r\n"), ElementsAre(RowResult(2, {"1\r\n2"})));
}

TEST(CsvSource, StripsUtf8ByteOrderMark) {
  const std::string path = WriteTempFile("\xEF\xBB\xBFid,name\n1,x\n");
  EXPECT_THAT(Columns(path), ElementsAre("id", "name"));
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(2, {"1", "x"})));
}

TEST(CsvSource, DetectsEachDelimiterFromTheHeader) {
  for (const char delimiter : {',', ';', '\t', '|'}) {
    const std::string d(1, delimiter);
    const std::string path = WriteTempFile("id" + d + "name" + d + "city\n1" + d + "x" + d + "y\n");
    EXPECT_THAT(Columns(path), ElementsAre("id", "name", "city")) << "delimiter " << d;
    EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(2, {"1", "x", "y"}))) << "delimiter " << d;
  }
}

TEST(CsvSource, ReportsTheDelimiterInUse) {
  auto semicolon = RowSource::Open(WriteTempFile("a;b\n"), {});
  ASSERT_TRUE(semicolon.ok());
  EXPECT_EQ((*semicolon)->delimiter(), ';');
  SourceOptions whitespace;
  whitespace.csv.whitespace_separated = true;
  auto blanks = RowSource::Open(WriteTempFile("a b\n"), whitespace);
  ASSERT_TRUE(blanks.ok());
  EXPECT_EQ((*blanks)->delimiter(), ' ');
  auto json = RowSource::Open(WriteTempFile("{}\n", ".jsonl"), {});
  ASSERT_TRUE(json.ok());
  EXPECT_EQ((*json)->delimiter(), 0);
}

TEST(CsvSource, ReadsSemicolonFileWithDecimalCommas) {
  EXPECT_THAT(ReadCsv("Invoice;Amount;Note\n536365;12,50;\"a;b\"\n536366;3,00;c, d\n"),
              ElementsAre(RowResult(2, {"536365", "12,50", "a;b"}),
                          RowResult(3, {"536366", "3,00", "c, d"})));
}

TEST(CsvSource, IgnoresDelimitersInsideQuotesWhenDetecting) {
  const std::string path = WriteTempFile("\"a,b,c\";d\n1;2\n");
  EXPECT_THAT(Columns(path), ElementsAre("a,b,c", "d"));
}

TEST(CsvSource, DefaultsToCommaWhenHeaderHasNoDelimiter) {
  const std::string path = WriteTempFile("only\n1\n");
  EXPECT_THAT(Columns(path), ElementsAre("only"));
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(2, {"1"})));
}

TEST(CsvSource, ExplicitDelimiterOverridesDetection) {
  SourceOptions options;
  options.csv.delimiter = ';';
  EXPECT_THAT(ReadCsv("a;b,c,d\n1;2,3,4\n", options), ElementsAre(RowResult(2, {"1", "2,3,4"})));
}

TEST(CsvSource, ReadsTabSeparatedFileWithSpacesInFields) {
  EXPECT_THAT(ReadCsv("order id\tcustomer name\n1\tAnn Lee\n2\t\n"),
              ElementsAre(RowResult(2, {"1", "Ann Lee"}), RowResult(3, {"2", ""})));
}

TEST(CsvSource, SplitsWhitespaceSeparatedFieldsOnRunsOfBlanks) {
  SourceOptions options;
  options.csv.whitespace_separated = true;
  options.csv.has_header = false;
  const std::string path =
      WriteTempFile("   4   1 19970101 2  29.33\n\t5 \t2 19970102  1 10.00  \r\n");
  EXPECT_THAT(Columns(path, options), ElementsAre("1", "2", "3", "4", "5"));
  EXPECT_THAT(ReadAll(path, options),
              ElementsAre(RowResult(1, {"4", "1", "19970101", "2", "29.33"}),
                          RowResult(2, {"5", "2", "19970102", "1", "10.00"})));
}

TEST(CsvSource, WhitespaceModeKeepsQuotesLiterally) {
  SourceOptions options;
  options.csv.whitespace_separated = true;
  EXPECT_THAT(ReadCsv("a b\n\"x y\"\n", options), ElementsAre(RowResult(2, {"\"x", "y\""})));
}

TEST(CsvSource, NamesColumnsByPositionWithoutHeaderAndReturnsFirstRow) {
  SourceOptions options;
  options.csv.has_header = false;
  const std::string path = WriteTempFile("\n1,a,x\n2,b,y\n");
  EXPECT_THAT(Columns(path, options), ElementsAre("1", "2", "3"));
  std::vector<std::string> names = {"3", "1"};
  EXPECT_THAT(ReadAll(path, options, &names),
              ElementsAre(RowResult(2, {"x", "1"}), RowResult(3, {"y", "2"})));
}

TEST(CsvSource, ReadsGzipInputDetectedByMagicBytes) {
  // The name does not say gzip: detection is by content.
  const std::string path = WriteGzipFile("id,name\n1,\"a\nb\"\n2,c\n", ".csv");
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(2, {"1", "a\nb"}), RowResult(4, {"2", "c"})));
}

TEST(CsvSource, ReportsTruncatedGzipInputAsAnError) {
  std::string rows = "id,name\n";
  for (int i = 0; i < 20000; ++i)
    rows += std::to_string(i) + ",name" + std::to_string(i * 7) + "\n";
  const std::string full = WriteGzipFile(rows);
  std::ifstream in(full, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string path = WriteTempFile(bytes.substr(0, bytes.size() / 2), ".csv.gz");
  const std::vector<Result> results = ReadAll(path);
  ASSERT_FALSE(results.empty());
  EXPECT_FALSE(results.back().ok);
  EXPECT_THAT(results.back().reason, HasSubstr("read error"));
  EXPECT_GT(results.size(), 100u);
}

TEST(CsvSource, HeaderOnlyFileHasNoRows) {
  const std::string path = WriteTempFile("id,name\n");
  EXPECT_THAT(Columns(path), ElementsAre("id", "name"));
  EXPECT_THAT(ReadAll(path), IsEmpty());
}

TEST(CsvSource, EmptyFileIsInvalidArgument) {
  auto source = RowSource::Open(WriteTempFile(""), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(source.status().message(), HasSubstr("empty file"));
}

TEST(CsvSource, FileOfBlankLinesIsInvalidArgument) {
  auto source = RowSource::Open(WriteTempFile("\n  \r\n\n"), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
}

TEST(CsvSource, MissingFileIsNotFound) {
  auto source = RowSource::Open(::testing::TempDir() + "no_such_file.csv", {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kNotFound);
}

TEST(CsvSource, DirectoryIsInvalidArgument) {
  auto source = RowSource::Open(::testing::TempDir(), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
}

TEST(CsvSource, HeaderWithInvalidUtf8IsInvalidArgument) {
  auto source = RowSource::Open(WriteTempFile("id,na\xFFme\n1,2\n"), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
}

TEST(CsvSource, TrimsBlanksAroundHeaderNames) {
  EXPECT_THAT(Columns(WriteTempFile(" id ,\tname\t,\" city \"\n1,2,3\n")),
              ElementsAre("id", "name", "city"));
}

TEST(CsvSource, SkipsBlankLinesAndKeepsLineNumbers) {
  EXPECT_THAT(ReadCsv("\n\na,b\n\n1,2\n  \r\n\t\n3,4\n\n"),
              ElementsAre(RowResult(5, {"1", "2"}), RowResult(8, {"3", "4"})));
}

TEST(CsvSource, ReadsLastRowWithoutLineBreak) {
  EXPECT_THAT(ReadCsv("a,b\n1,2\n3,\"4\""),
              ElementsAre(RowResult(2, {"1", "2"}), RowResult(3, {"3", "4"})));
}

TEST(CsvSource, RejectsRowsWithWrongFieldCountNamingTheFirstMissingOrExtraColumn) {
  EXPECT_THAT(ReadCsv("a,b,c\n1,2\n1,2,3,4\n5,6,7\n"),
              ElementsAre(ErrorResult(2, 3, "c", "expected 3 fields, found 2"),
                          ErrorResult(3, 4, "", "expected 3 fields, found 4"),
                          RowResult(4, {"5", "6", "7"})));
}

TEST(CsvSource, ResyncsAfterUnterminatedQuoteAtEndOfInput) {
  // The stray quote on line 3 swallows the rest of the file; reading resumes at line 4.
  EXPECT_THAT(
      ReadCsv("a,b\n1,2\n3,\"oops\n5,6\n7,8\n"),
      ElementsAre(RowResult(2, {"1", "2"}), ErrorResult(3, 2, "b", "unterminated quoted field"),
                  RowResult(4, {"5", "6"}), RowResult(5, {"7", "8"})));
}

TEST(CsvSource, ResyncsAfterQuoteRunningPastTheFieldLimit) {
  SourceOptions options;
  options.csv.max_field_bytes = 16;
  std::string contents = "a,b\n1,\"never closed\n";
  for (int i = 0; i < 10; ++i) contents += std::to_string(i) + ",x\n";
  contents += "9,\"closed\"\"\"\n";
  const std::vector<Result> results = ReadCsv(contents, options);
  ASSERT_EQ(results.size(), 12u);
  EXPECT_EQ(results[0],
            ErrorResult(2, 2, "b", "unterminated quoted field (no closing quote within 16 bytes)"));
  EXPECT_EQ(results[1], RowResult(3, {"0", "x"}));
  EXPECT_EQ(results[10], RowResult(12, {"9", "x"}));
  EXPECT_EQ(results[11], RowResult(13, {"9", "closed\""}));
}

TEST(CsvSource, RejectsFieldLongerThanTheLimitAndReadsOn) {
  SourceOptions options;
  options.csv.max_field_bytes = 8;
  EXPECT_THAT(
      ReadCsv("a,b\n1,12345678\n2,123456789\n3,x\n", options),
      ElementsAre(RowResult(2, {"1", "12345678"}),
                  ErrorResult(3, 2, "b", "field longer than 8 bytes"), RowResult(4, {"3", "x"})));
}

TEST(CsvSource, RejectsHugeFieldWithTheDefaultLimit) {
  const std::string huge(3 << 20, 'z');
  const std::string path = WriteTempFile("a,b\n1," + huge + "\n2,y\n");
  EXPECT_THAT(ReadAllWithBlockSize(path, {}, nullptr, 1 << 20),
              ElementsAre(ErrorResult(2, 2, "b", "field longer than 1048576 bytes"),
                          RowResult(3, {"2", "y"})));
}

TEST(CsvSource, ReadsQuotedFieldsLargerThanOneBlock) {
  const std::string big(2 << 20, 'q');
  const std::string path = WriteTempFile("a,b\n1,\"" + big + "\"\n2,y\n");
  SourceOptions options;
  options.csv.max_field_bytes = 4 << 20;
  EXPECT_THAT(ReadAllWithBlockSize(path, options, nullptr, 1 << 20),
              ElementsAre(RowResult(2, {"1", big}), RowResult(3, {"2", "y"})));
}

TEST(CsvSource, RejectsInvalidUtf8OnlyInSelectedFields) {
  const std::string path = WriteTempFile("id,name,city\n1,Ren\xC3\xA9,Ly\xE9on\n2,Ann\xC0\xAF,x\n");
  std::vector<std::string> names = {"name", "id"};
  EXPECT_THAT(ReadAll(path, {}, &names), ElementsAre(RowResult(2, {"Ren\xC3\xA9", "1"}),
                                                     ErrorResult(3, 2, "name", "invalid UTF-8")));
}

TEST(CsvSource, ChecksUtf8PastLongAsciiRuns) {
  // The row is checked 32 and 8 bytes at a time while it is ASCII: what follows such runs
  // is still checked byte by byte.
  const std::string ascii(40, 'a');
  const std::string path =
      WriteTempFile("id,name\n1," + ascii + "\xC3\xA9" + ascii + "\n2," + ascii +
                    "\xED\xA0\x80\n3," + ascii + ascii + "\xF4\x90\x80\x80\n");
  EXPECT_THAT(ReadAll(path, {}, nullptr),
              ElementsAre(RowResult(2, {"1", ascii + "\xC3\xA9" + ascii}),
                          ErrorResult(3, 2, "name", "invalid UTF-8"),
                          ErrorResult(4, 2, "name", "invalid UTF-8")));
}

TEST(CsvSource, SelectListsColumnsFoundWhenAColumnIsMissing) {
  auto source = RowSource::Open(WriteTempFile("id,email,total\n1,a,2\n"), {});
  ASSERT_TRUE(source.ok());
  const Status status = (*source)->Select({"id", "phone", "zip"});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"phone\", \"zip\" not found"));
  EXPECT_THAT(status.message(), HasSubstr("columns found: \"id\", \"email\", \"total\""));
}

TEST(CsvSource, SelectMatchesNamesCaseInsensitivelyAndReportsPositions) {
  auto source = RowSource::Open(WriteTempFile("Order ID,EMAIL,Total\n1,a@b,2\n"), {});
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Select({"total", "order id", "Email"}).ok());
  EXPECT_EQ((*source)->ColumnPosition(0), 3u);
  EXPECT_EQ((*source)->ColumnPosition(1), 1u);
  EXPECT_EQ((*source)->ColumnPosition(2), 2u);
  Row row;
  RowError error;
  bool ok = false;
  ASSERT_TRUE((*source)->Next(&row, &error, &ok));
  ASSERT_TRUE(ok);
  EXPECT_THAT(row.fields, ElementsAre("2", "1", "a@b"));
}

TEST(CsvSource, SelectingAQuotedColumnTwiceUnescapesItOnce) {
  std::vector<std::string> names = {"a", "A"};
  EXPECT_THAT(ReadCsv("a\n\"x\"\"y\"\n", {}, &names), ElementsAre(RowResult(2, {"x\"y", "x\"y"})));
}

TEST(CsvSource, KeepsStrayQuoteInUnquotedFieldAsLiteral) {
  EXPECT_THAT(ReadCsv("a,b\n5\" screen,x\n"), ElementsAre(RowResult(2, {"5\" screen", "x"})));
}

TEST(CsvSource, KeepsTextAfterClosingQuoteLiterally) {
  EXPECT_THAT(ReadCsv("a,b\n\"ab\"cd,\"x\" \n"), ElementsAre(RowResult(2, {"abcd", "x "})));
}

TEST(CsvSource, ErrorReasonsNeverContainFieldValues) {
  SourceOptions options;
  options.csv.max_field_bytes = 32;
  const std::string secret = "jane.doe@example.com";
  const std::vector<Result> results =
      ReadCsv("a,b\n" + secret + "\n" + secret + ",\"" + secret + "\n1," + secret + "\xFF\n1," +
                  secret + secret + "\n",
              options);
  ASSERT_FALSE(results.empty());
  for (const Result& r : results) {
    EXPECT_THAT(r.reason, Not(HasSubstr("jane"))) << r;
    EXPECT_THAT(r.column_name, Not(HasSubstr("jane"))) << r;
  }
}

TEST(CsvSource, ReadsManyRowsAcrossBlockBoundaries) {
  std::string contents = "id,note,amount\n";
  for (int i = 0; i < 60000; ++i) {
    contents += std::to_string(i) + ",\"n, \"\"" + std::to_string(i) + "\"\"\nx\"," +
                std::to_string(i % 100) + ".50\r\n";
  }
  const std::string path = WriteTempFile(contents);
  auto source = RowSource::Open(path, {});
  ASSERT_TRUE(source.ok());
  Row row;
  RowError error;
  bool ok = false;
  int count = 0;
  while ((*source)->Next(&row, &error, &ok)) {
    ASSERT_TRUE(ok) << error.reason << " at line " << error.line;
    ASSERT_EQ(row.line, 2u + 2u * count);
    ASSERT_EQ(row.fields[1], "n, \"" + std::to_string(count) + "\"\nx");
    ASSERT_EQ(row.fields[2], std::to_string(count % 100) + ".50");
    ++count;
  }
  EXPECT_EQ(count, 60000);
  EXPECT_EQ((*source)->bytes_read(), contents.size());
}

TEST(CsvSource, ReportsCompressedBytesReadForGzip) {
  std::string contents = "a,b\n";
  for (int i = 0; i < 100000; ++i) contents += "1,2\n";
  const std::string path = WriteGzipFile(contents);
  auto source = RowSource::Open(path, {});
  ASSERT_TRUE(source.ok());
  Row row;
  RowError error;
  bool ok = false;
  while ((*source)->Next(&row, &error, &ok)) {
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_EQ((*source)->bytes_read(), static_cast<uint64_t>(in.tellg()));
}

// ---- Format detection ----

TEST(RowSourceOpen, DetectsJsonLinesByName) {
  const std::string path = WriteTempFile("\n\n{\"a\":1}\n", ".NDJSON");
  EXPECT_THAT(Columns(path), ElementsAre("a"));
  EXPECT_THAT(Columns(WriteGzipFile("{\"b\":1}\n", ".jsonl.gz")), ElementsAre("b"));
}

TEST(RowSourceOpen, DetectsJsonLinesByFirstByte) {
  EXPECT_THAT(Columns(WriteTempFile("\xEF\xBB\xBF  \n{\"k\":\"v\"}\n", ".txt")), ElementsAre("k"));
}

TEST(RowSourceOpen, ExplicitCsvFormatReadsBraceAsData) {
  SourceOptions options;
  options.format = InputFormat::kCsv;
  EXPECT_THAT(Columns(WriteTempFile("{a,b}\n", ".jsonl"), options), ElementsAre("{a", "b}"));
}

// ---- JSON Lines ----

TEST(JsonLinesSource, ColumnsAreTheKeysOfTheFirstObjectInOrder) {
  EXPECT_THAT(Columns(WriteTempFile("{\"z\":1,\"a\":2,\"m\":{\"x\":1}}\n", ".jsonl")),
              ElementsAre("z", "a", "m"));
}

TEST(JsonLinesSource, NumbersKeepTheirSourceText) {
  const std::string path = WriteTempFile(
      "{\"a\":12.50,\"b\":-0.10,\"c\":1e3,\"d\":42,\"e\":-7,\"f\":18446744073709551615,"
      "\"g\":123456789012345678901234567890,\"h\":0.1000000000000000055511151231257827}\n",
      ".jsonl");
  EXPECT_THAT(ReadAll(path),
              ElementsAre(RowResult(
                  1, {"12.50", "-0.10", "1e3", "42", "-7", "18446744073709551615",
                      "123456789012345678901234567890", "0.1000000000000000055511151231257827"})));
}

TEST(JsonLinesSource, StringsAndBooleansAreReadAsText) {
  const std::string path =
      WriteTempFile("{\"s\":\"caf\\u00e9 \\\"x\\\"\",\"t\":true,\"f\":false}\n", ".jsonl");
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(1, {"caf\xC3\xA9 \"x\"", "true", "false"})));
}

TEST(JsonLinesSource, NullAndMissingKeysAreAbsent) {
  const std::string path =
      WriteTempFile("{\"a\":1,\"b\":2}\n{\"a\":null}\n{\"b\":\"\"}\n", ".jsonl");
  Result null_row = RowResult(2, {"", ""});
  null_row.present = {false, false};
  Result missing_row = RowResult(3, {"", ""});
  missing_row.present = {false, true};
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(1, {"1", "2"}), null_row, missing_row));
}

TEST(JsonLinesSource, SelectAcceptsKeysMissingFromTheFirstObjectCaseInsensitively) {
  const std::string path = WriteTempFile("{\"Id\":1}\n{\"ID\":2,\"Email\":\"a@b\"}\n", ".jsonl");
  std::vector<std::string> names = {"email", "id"};
  Result first = RowResult(1, {"", "1"});
  first.present = {false, true};
  EXPECT_THAT(ReadAll(path, {}, &names), ElementsAre(first, RowResult(2, {"a@b", "2"})));
}

TEST(JsonLinesSource, RejectsNestedValueOfASelectedKey) {
  const std::string path =
      WriteTempFile("{\"a\":1,\"items\":[1,2]}\n{\"a\":{\"x\":1},\"items\":[]}\n", ".jsonl");
  std::vector<std::string> only_a = {"a"};
  EXPECT_THAT(ReadAll(path, {}, &only_a),
              ElementsAre(RowResult(1, {"1"}),
                          ErrorResult(2, 0, "a", "nested value in key a not supported")));
  std::vector<std::string> both = {"a", "items"};
  EXPECT_THAT(ReadAll(path, {}, &both),
              ElementsAre(ErrorResult(1, 0, "items", "nested value in key items not supported"),
                          ErrorResult(2, 0, "a", "nested value in key a not supported")));
}

TEST(JsonLinesSource, ReportsInvalidJsonWithoutItsContent) {
  const std::string path = WriteTempFile(
      "{\"a\":1}\n{\"a\":\"secret@x\" oops}\n{\"a\":tru}\n[1]\n{\"a\":1e999}\n{\"a\":2}\n",
      ".jsonl");
  const std::vector<Result> results = ReadAll(path);
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(results[0], RowResult(1, {"1"}));
  for (int i = 1; i <= 4; ++i) {
    EXPECT_FALSE(results[i].ok);
    EXPECT_EQ(results[i].line, static_cast<uint64_t>(i + 1));
    EXPECT_THAT(results[i].reason, Not(HasSubstr("secret")));
    EXPECT_THAT(results[i].reason, Not(HasSubstr("tru")));
    EXPECT_THAT(results[i].reason, Not(HasSubstr("999")));
  }
  EXPECT_THAT(results[1].reason, HasSubstr("invalid JSON at column"));
  EXPECT_EQ(results[3].reason, "line is not a JSON object");
  EXPECT_EQ(results[5], RowResult(6, {"2"}));
}

TEST(JsonLinesSource, SkipsBlankLinesAndHandlesCrlf) {
  const std::string path = WriteTempFile("\r\n{\"a\":1}\r\n\r\n  \n{\"a\":2}", ".jsonl");
  EXPECT_THAT(ReadAll(path), ElementsAre(RowResult(2, {"1"}), RowResult(5, {"2"})));
}

TEST(JsonLinesSource, FirstLineThatIsNotAnObjectIsInvalidArgument) {
  auto source = RowSource::Open(WriteTempFile("[1,2]\n{\"a\":1}\n", ".jsonl"), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonLinesSource, EmptyFileIsInvalidArgument) {
  auto source = RowSource::Open(WriteTempFile("\n\n", ".jsonl"), JsonOptions());
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
}

TEST(JsonLinesSource, RejectsLineLongerThanTheLimitAndReadsOn) {
  SourceOptions options = JsonOptions();
  options.csv.max_field_bytes = 4;  // lines of up to 64 bytes
  const std::string path =
      WriteTempFile("{\"a\":1}\n{\"a\":\"" + std::string(100, 'x') + "\"}\n{\"a\":3}\n", ".jsonl");
  EXPECT_THAT(ReadAll(path, options),
              ElementsAre(RowResult(1, {"1"}), ErrorResult(2, 0, "", "line longer than 64 bytes"),
                          RowResult(3, {"3"})));
}

}  // namespace
}  // namespace tessera::io
