// Phone numbers as identifiers: normalization to E.164 (a table of inputs and what they become
// or why they are refused) and their own pseudonym domain.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

#include "tessera/io/phone_numbering.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::privacy {
namespace {

PhoneDefaults In(std::string_view country, bool bare_international = false) {
  PhoneDefaults d;
  if (!country.empty()) d.country = *io::FindPhoneCountry(country);
  d.bare_digits_international = bare_international;
  return d;
}

struct Case {
  const char* raw;
  const char* country;  // the mapping's default_phone_country, "" for none
  const char* e164;     // the result, or nullptr when refused
  const char* reason;   // part of the reason when refused
  bool bare_international = false;
};

constexpr Case kCases[] = {
    // International numbers: '+' or the international prefix 00; separators dropped.
    {"+49 30 1234567", "", "+49301234567", nullptr},
    {"+49-30-123 45 67", "", "+49301234567", nullptr},
    {"+49.170.123.4567", "", "+491701234567", nullptr},
    {"0049 30 1234567", "", "+49301234567", nullptr},
    {"  +49 (30) 1234567 ", "", "+49301234567", nullptr},
    {"+49\xc2\xa0"
     "30\xc2\xa0"
     "1234567",
     "", "+49301234567", nullptr},  // no-break spaces
    {"+1 (212) 555-0100", "DE", "+12125550100", nullptr},
    // The national prefix written along after the calling code, "(0)", is removed where the
    // trunk prefix is 0 ...
    {"+49 (0)30 1234567", "", "+49301234567", nullptr},
    {"0049 (0) 30-123 45 67", "", "+49301234567", nullptr},
    {"+44 (0)20 7946 0000", "", "+442079460000", nullptr},
    {"+43 (0)1 234 5678", "", "+4312345678", nullptr},
    {"+41 (0)44 123 45 67", "", "+41441234567", nullptr},
    {"+33 (0)1 23 45 67 89", "", "+33123456789", nullptr},
    {"+31 (0)20 123 4567", "", "+31201234567", nullptr},
    // ... and kept in Italy, where the 0 of fixed lines is part of the number.
    {"+39 06 1234 5678", "", "+390612345678", nullptr},
    // National numbers take the default country: its trunk prefix goes, its code comes first.
    {"030 1234567", "DE", "+49301234567", nullptr},
    {"030/123 45 67", "de", "+49301234567", nullptr},
    {"0170 1234567", "DE", "+491701234567", nullptr},
    {"170 1234567", "DE", "+491701234567", nullptr},  // a 0 lost in a spreadsheet
    {"030 1234567", "49", "+49301234567", nullptr},
    {"030 1234567", "+49", "+49301234567", nullptr},
    {"01 234 5678", "AT", "+4312345678", nullptr},
    {"044 123 45 67", "CH", "+41441234567", nullptr},
    {"020 7946 0000", "GB", "+442079460000", nullptr},
    {"01 23 45 67 89", "FR", "+33123456789", nullptr},
    {"020 123 4567", "NL", "+31201234567", nullptr},
    {"06 1234 5678", "IT", "+390612345678", nullptr},
    {"333 123 4567", "IT", "+393331234567", nullptr},
    {"12 34 56 78", "DK", "+4512345678", nullptr},
    {"(212) 555-0100", "US", "+12125550100", nullptr},
    {"1 212 555 0100", "US", "+12125550100", nullptr},
    {"8 916 123-45-67", "RU", "+79161234567", nullptr},
    {"06 30 123 4567", "HU", "+36301234567", nullptr},
    {"0 225 123 4567", "225", "+22502251234567", nullptr},  // unknown trunk prefix: kept
    // Bare digits read as international numbers (MSISDNs) when the mapping says so; a leading
    // 0 or the default country's trunk prefix still makes a national number.
    {"491701234567", "", "+491701234567", nullptr, true},
    {"491701234567", "DE", "+491701234567", nullptr, true},
    {"0170 1234567", "DE", "+491701234567", nullptr, true},
    {"89161234567", "RU", "+79161234567", nullptr, true},
    {"491701234567", "DE", "+49491701234567", nullptr},  // national by default
    // Refused, with a reason.
    {"030 1234567", "", nullptr, "default_phone_country"},
    {"1701234567", "", nullptr, "default_phone_country"},
    {"+49 30 CALL-NOW", "", nullptr, "letters"},
    {"+49 30 1234567 ext. 12", "DE", nullptr, "letters"},
    {"tel:+49301234567", "", nullptr, "letters"},
    {"+49 30 1234567;2", "", nullptr, "only digits"},
    {"+49 30 1234567#", "", nullptr, "only digits"},
    {"49+301234567", "", nullptr, "'+'"},
    {"++49301234567", "", nullptr, "'+'"},
    {"+0 30 1234567", "", nullptr, "begins with 0"},
    {"+49 (0) 030 1234567", "", nullptr, "more than one 0"},
    {"0049 00 30 1234567", "DE", nullptr, "more than one 0"},
    {"000 30 1234567", "DE", nullptr, "begins with 0"},
    {"+49 1234", "", nullptr, "fewer than 8"},
    {"0123", "DE", nullptr, "fewer than 8"},
    {"+49 1234 5678 9012 3456", "", nullptr, "more than 15"},
    {"-- / --", "DE", nullptr, "no digits"},
    {"n/a", "DE", nullptr, "letters"},
};

TEST(NormalizePhone, GivesE164OrAReason) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.raw) + " in " + (*c.country ? c.country : "no country"));
    auto got = NormalizePhone(c.raw, In(c.country, c.bare_international));
    if (c.e164 != nullptr) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, c.e164);
      // Normalizing is idempotent: the result reads back as itself.
      EXPECT_EQ(*NormalizePhone(*got, In(c.country)), c.e164);
    } else {
      ASSERT_FALSE(got.ok()) << *got;
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find(c.reason), std::string::npos) << got.status().message();
    }
  }
}

TEST(NormalizePhone, AnEmptyValueIsMissingNotBad) {
  EXPECT_EQ(NormalizePhone("   ", In("DE")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(NormalizeIdentifier(IdentifierKind::kPhone, "", In("DE")).status().code(),
            StatusCode::kNotFound);
}

TEST(NormalizePhone, ReasonsNeverRepeatTheValue) {
  for (const char* raw :
       {"+49 30 98765432 x7", "0049 98765", "98765432", "+4998765;43", "+49 9876 5432 1098 7654"}) {
    auto got = NormalizePhone(raw, In(""));
    ASSERT_FALSE(got.ok()) << raw;
    EXPECT_EQ(got.status().message().find("98765"), std::string::npos) << got.status().message();
    EXPECT_EQ(got.status().message().find("9876"), std::string::npos) << got.status().message();
  }
}

TEST(NormalizeIdentifier, PassesThePhoneDefaultsOnlyToPhones) {
  EXPECT_EQ(*NormalizeIdentifier(IdentifierKind::kPhone, "030 1234567", In("DE")), "+49301234567");
  EXPECT_EQ(*NormalizeIdentifier(IdentifierKind::kCustomerNumber, "030 1234567", In("DE")),
            "030 1234567");
  EXPECT_FALSE(NormalizeIdentifier(IdentifierKind::kPhone, "030 1234567").ok());
}

TEST(IdentifierKindByte, IsOneFixedByteEachAndReadsBack) {
  EXPECT_EQ(IdentifierKindByte(IdentifierKind::kCustomerNumber), 'c');
  EXPECT_EQ(IdentifierKindByte(IdentifierKind::kEmail), 'e');
  EXPECT_EQ(IdentifierKindByte(IdentifierKind::kPhone), 'p');
  for (IdentifierKind kind :
       {IdentifierKind::kCustomerNumber, IdentifierKind::kEmail, IdentifierKind::kPhone}) {
    EXPECT_EQ(IdentifierKindOfByte(IdentifierKindByte(kind)), kind);
  }
  EXPECT_FALSE(IdentifierKindOfByte('x').has_value());
  EXPECT_FALSE(IdentifierKindOfByte(0).has_value());
}

// The pseudonym of a phone is HMAC-SHA256 over 'p' and the E.164 number, like the other kinds
// over theirs: its own domain, so that the same text as a customer number or an e-mail
// differs.
TEST(Pseudonymizer, PhonesHaveTheirOwnDomain) {
  std::array<uint8_t, OwnerKey::kSize> bytes;
  bytes.fill(5);
  const OwnerKey key = OwnerKey::FromBytes(bytes);
  auto p = Pseudonymizer::Create(key);
  ASSERT_TRUE(p.ok());
  const std::string e164 = "+49301234567";
  const Uuid phone = p->Pseudonym(IdentifierKind::kPhone, e164);
  EXPECT_NE(phone, p->Pseudonym(IdentifierKind::kCustomerNumber, e164));
  EXPECT_NE(phone, p->Pseudonym(IdentifierKind::kEmail, e164));
  uint8_t derived[32];
  ASSERT_TRUE(key.Derive("tessera customer pseudonym v1", derived).ok());
  const std::string input = "p" + e164;
  unsigned char mac[32];
  size_t len = 0;
  ASSERT_NE(
      EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, derived, 32,
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, 32, &len),
      nullptr);
  EXPECT_EQ(phone.bytes[0], mac[0]);
  EXPECT_EQ(phone.bytes[15], mac[15]);
  EXPECT_EQ(phone.bytes[6] & 0x0f, mac[6] & 0x0f);
  EXPECT_EQ(phone.bytes[6] >> 4, 8);  // version 8
}

TEST(PhoneCountry, IsFoundByIsoCodeOrCallingCode) {
  EXPECT_EQ(*io::FindPhoneCountry("DE"), (io::PhoneCountry{"49", "0"}));
  EXPECT_EQ(*io::FindPhoneCountry("de"), (io::PhoneCountry{"49", "0"}));
  EXPECT_EQ(*io::FindPhoneCountry("49"), (io::PhoneCountry{"49", "0"}));
  EXPECT_EQ(*io::FindPhoneCountry("+49"), (io::PhoneCountry{"49", "0"}));
  EXPECT_EQ(*io::FindPhoneCountry("IT"), (io::PhoneCountry{"39", ""}));
  EXPECT_EQ(*io::FindPhoneCountry("HU"), (io::PhoneCountry{"36", "06"}));
  EXPECT_EQ(*io::FindPhoneCountry("US"), (io::PhoneCountry{"1", "1"}));
  EXPECT_EQ(*io::FindPhoneCountry("225"), (io::PhoneCountry{"225", ""}));  // not in the table
  for (const char* bad : {"XX", "", "0", "049", "1234", "+", "D", "DEU", "4 9"}) {
    EXPECT_EQ(io::FindPhoneCountry(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PhoneCountry, CallingCodesOfTheTableArePrefixFree) {
  // MatchCallingCode takes the first code that begins a number: no code may begin another.
  for (std::string_view digits : {"4930", "3906", "4420", "3581", "35912", "79161", "12125"}) {
    const io::CallingCodeMatch m = io::MatchCallingCode(digits);
    EXPECT_GT(m.code_length, 0u) << digits;
  }
  EXPECT_EQ(io::MatchCallingCode("4930").code_length, 2u);
  EXPECT_EQ(io::MatchCallingCode("4930").trunk_prefix, "0");
  EXPECT_EQ(io::MatchCallingCode("35812").code_length, 3u);
  EXPECT_EQ(io::MatchCallingCode("225").code_length, 0u);
}

}  // namespace
}  // namespace tessera::privacy
