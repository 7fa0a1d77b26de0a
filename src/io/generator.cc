#include "tessera/io/generator.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/civil_time.h"

namespace tessera::io {
namespace {

// Hand-written generators and samplers rather than <random>'s distributions, whose output
// differs between standard libraries: the same seed must give the same file everywhere.

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kCatalogSalt = 0x6361746c6f67ULL;
constexpr uint64_t kCustomerSalt = 0x63757374ULL;
constexpr uint64_t kPriceSalt = 0x7072696365ULL;
constexpr uint64_t kPhoneSalt = 0x70686f6e65ULL;
constexpr uint64_t kSharedSalt = 0x736861726564ULL;
constexpr uint64_t kSubscriberSalt = 0x74656c636fULL;

// splitmix64's finalizer: a bijective 64-bit mix.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline double UnitFromBits(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

// xoshiro256** (Blackman & Vigna), seeded through splitmix64 as its authors recommend.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed += kGolden;
      word = Mix64(seed);
    }
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  double Uniform() { return UnitFromBits(Next()); }                // [0, 1)
  double UniformPositive() { return 1.0 - UnitFromBits(Next()); }  // (0, 1]
  bool Bernoulli(double p) { return Uniform() < p; }
  // Lemire's multiply-shift; the bias for n << 2^32 is far below anything a test could see.
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

  // Marsaglia's polar method: only log and sqrt, no trigonometry.
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u, v, s;
    do {
      u = 2.0 * Uniform() - 1.0;
      v = 2.0 * Uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return u * f;
  }

  double Exponential(double rate) { return -std::log(UniformPositive()) / rate; }

  // Marsaglia & Tsang (2000); shape < 1 by boosting to shape + 1 and scaling by U^(1/shape).
  double Gamma(double shape, double scale) {
    if (shape < 1.0) {
      return Gamma(shape + 1.0, scale) * std::pow(UniformPositive(), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      const double x = Normal();
      double v = 1.0 + c * x;
      if (v <= 0.0) continue;
      v = v * v * v;
      const double u = UniformPositive();
      if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v * scale;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
    }
  }

  double Beta(double a, double b) {
    const double x = Gamma(a, 1.0);
    const double y = Gamma(b, 1.0);
    return x + y > 0.0 ? x / (x + y) : 0.5;
  }

  double LogNormal(double mu, double sigma) { return std::exp(mu + sigma * Normal()); }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::array<uint64_t, 4> s_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Walker's alias method (Vose's construction): O(1) sampling from a fixed discrete
// distribution, one 64-bit draw per sample.
class AliasTable {
 public:
  explicit AliasTable(const std::vector<double>& weights)
      : threshold_(weights.size()), alias_(weights.size()) {
    const size_t n = weights.size();
    double total = 0.0;
    for (double w : weights) total += w;
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back();
      small.pop_back();
      const uint32_t l = large.back();
      large.pop_back();
      threshold_[s] = static_cast<uint64_t>(scaled[s] * 4294967296.0);
      alias_[s] = l;
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      (scaled[l] < 1.0 ? small : large).push_back(l);
    }
    // Leftovers are 1 up to rounding: always keep themselves.
    for (uint32_t i : small) threshold_[i] = uint64_t{1} << 32, alias_[i] = i;
    for (uint32_t i : large) threshold_[i] = uint64_t{1} << 32, alias_[i] = i;
  }

  uint32_t Sample(Rng& rng) const {
    const uint64_t x = rng.Next();
    const uint32_t column = static_cast<uint32_t>(((x >> 32) * threshold_.size()) >> 32);
    return (x & 0xffffffffULL) < threshold_[column] ? column : alias_[column];
  }

 private:
  std::vector<uint64_t> threshold_;  // P(keep column) * 2^32
  std::vector<uint32_t> alias_;
};

// Samples an index from a short cumulative weight table by linear scan.
template <size_t N>
size_t SampleSmall(Rng& rng, const std::array<double, N>& cumulative) {
  const double u = rng.Uniform() * cumulative[N - 1];
  for (size_t i = 0; i + 1 < N; ++i) {
    if (u < cumulative[i]) return i;
  }
  return N - 1;
}

template <size_t N>
constexpr std::array<double, N> Cumulative(const std::array<double, N>& weights) {
  std::array<double, N> out{};
  double sum = 0.0;
  for (size_t i = 0; i < N; ++i) out[i] = sum += weights[i];
  return out;
}

// No field value may contain ',', '"' or a line break: the writer never quotes.

struct Department {
  std::string_view name;
  double base_price;  // typical unit price in EUR
  std::array<std::string_view, 10> aisles;
};

constexpr std::array<Department, 10> kDepartments = {{
    {"Food",
     3.0,
     {"Dairy", "Bakery", "Fruit", "Vegetables", "Meat", "Fish", "Pasta", "Snacks", "Frozen",
      "Spices"}},
    {"Drinks",
     4.0,
     {"Water", "Juice", "Soda", "Coffee", "Tea", "Beer", "Wine", "Spirits", "Energy Drinks",
      "Milk Drinks"}},
    {"Household",
     5.0,
     {"Cleaning", "Laundry", "Paper", "Storage", "Kitchen Tools", "Dishwashing", "Bins",
      "Light Bulbs", "Batteries", "Pest Control"}},
    {"Beauty",
     8.0,
     {"Skin Care", "Hair Care", "Makeup", "Fragrance", "Oral Care", "Shaving", "Bath", "Sun Care",
      "Nails", "Deodorant"}},
    {"Baby",
     10.0,
     {"Diapers", "Baby Food", "Wipes", "Bottles", "Baby Care", "Strollers", "Car Seats",
      "Baby Clothes", "Nursery", "Feeding"}},
    {"Pets",
     7.0,
     {"Dog Food", "Cat Food", "Pet Snacks", "Litter", "Pet Toys", "Aquarium", "Bird",
      "Small Animals", "Pet Care", "Leashes"}},
    {"Garden",
     15.0,
     {"Plants", "Seeds", "Soil", "Garden Tools", "Garden Furniture", "Grills", "Watering",
      "Outdoor Lighting", "Pots", "Lawn Care"}},
    {"Electronics",
     40.0,
     {"Phones", "Cables", "Audio", "Computers", "Accessories", "TV", "Cameras", "Gaming",
      "Smart Home", "Storage Media"}},
    {"Home",
     20.0,
     {"Bedding", "Towels", "Decor", "Lamps", "Cookware", "Tableware", "Curtains", "Rugs", "Candles",
      "Frames"}},
    {"Toys",
     15.0,
     {"Puzzles", "Board Games", "Dolls", "Building Sets", "Outdoor Toys", "Plush", "Vehicles",
      "Crafts", "Books", "Learning"}},
}};
constexpr size_t kAisles = 100;

constexpr std::array<std::string_view, 12> kVariants = {"Classic", "Organic", "Premium",  "Value",
                                                        "Mini",    "Family",  "Regional", "Light",
                                                        "Deluxe",  "Eco",     "Basic",    "Select"};

struct Store {
  std::string_view name;
  uint32_t region;  // index into kRegions
  double weight;    // share of store traffic
};

constexpr std::array<std::string_view, 4> kRegions = {"Nord", "S\u00fcd", "West", "Ost"};
constexpr std::array<Store, 12> kStores = {{
    {"Hamburg Altona", 0, 9},
    {"Bremen Mitte", 0, 5},
    {"Kiel Hafen", 0, 3},
    {"M\u00fcnchen Zentrum", 1, 9},
    {"Stuttgart K\u00f6nigstra\u00dfe", 1, 6},
    {"N\u00fcrnberg Altstadt", 1, 4},
    {"K\u00f6ln Ehrenfeld", 2, 7},
    {"D\u00fcsseldorf K\u00f6", 2, 5},
    {"Dortmund City", 2, 4},
    {"Berlin Mitte", 3, 10},
    {"Leipzig Zentrum", 3, 5},
    {"Dresden Neustadt", 3, 4},
}};
constexpr std::string_view kOnlineStore = "Online Shop";

constexpr std::array<double, 12> kStoreCumulative = [] {
  std::array<double, 12> w{};
  for (size_t i = 0; i < w.size(); ++i) w[i] = kStores[i].weight;
  return Cumulative(w);
}();
// Opening hours 8..19 with the after-work peak.
constexpr size_t kFirstStoreHour = 8;
constexpr std::array<double, 12> kStoreHourCumulative =
    Cumulative(std::array<double, 12>{3, 4, 5, 6, 6, 5, 5, 6, 8, 9, 8, 5});
constexpr std::array<double, 24> kOnlineHourCumulative = Cumulative(std::array<double, 24>{
    1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 6, 7, 8, 9, 9, 8, 5, 2});

constexpr std::array<std::string_view, 40> kFirstNames = {
    "anna",   "max",  "lena",  "paul",   "marie", "felix",  "laura", "jonas", "sarah",  "lukas",
    "julia",  "leon", "emma",  "finn",   "mia",   "noah",   "lea",   "elias", "sophie", "ben",
    "hannah", "tim",  "lina",  "jan",    "clara", "david",  "nina",  "tom",   "eva",    "moritz",
    "ida",    "erik", "amira", "mehmet", "olga",  "pietro", "chloe", "kenji", "zoe",    "samuel"};
constexpr std::array<std::string_view, 40> kLastNames = {
    "mueller",  "schmidt",    "schneider", "fischer",  "weber", "meyer",  "wagner",  "becker",
    "schulz",   "hoffmann",   "koch",      "richter",  "klein", "wolf",   "neumann", "schwarz",
    "braun",    "zimmermann", "krueger",   "hartmann", "lange", "werner", "krause",  "lehmann",
    "schmitt",  "walter",     "peters",    "koenig",   "huber", "kaiser", "fuchs",   "yilmaz",
    "kowalski", "rossi",      "nguyen",    "novak",    "silva", "jensen", "berg",    "kraus"};
constexpr std::array<std::string_view, 3> kEmailDomains = {"example.com", "example.org",
                                                           "example.net"};

// BG/NBD: lambda ~ Gamma(r, 1/alpha) purchases per day, dropout p ~ Beta(a, b). With these a
// customer buys about every two months on average, ~40% of those acquired in a 24-month period
// buy once, and a few buy weekly.
constexpr double kRateShape = 0.7;
constexpr double kRateScale = 1.0 / 40.0;
constexpr double kMaxRate = 0.5;  // nobody shops more than every other day on average
constexpr double kDropoutA = 1.0;
constexpr double kDropoutB = 3.0;
constexpr double kExistingShare = 0.3;  // acquired before the period
constexpr double kHistoryDays = 730.0;  // how far back existing customers were acquired
constexpr double kGuestShare = 0.05;
constexpr double kZipfExponent = 1.0;  // category popularity
constexpr int kMaxLines = 8;
constexpr size_t kFavourites = 3;
// Rows stay well below this: the longest field values above plus 20-digit numbers.
constexpr size_t kMaxRowBytes = 512;
constexpr size_t kBufferBytes = size_t{1} << 20;

inline char* Append(char* p, std::string_view s) {
  if (s.empty()) return p;  // an empty view may have a null data(), which memcpy must not get
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline char* AppendUint(char* p, uint64_t v) { return std::to_chars(p, p + 20, v).ptr; }

inline char* AppendPadded(char* p, uint64_t v, int width) {
  char digits[20];
  const int n = static_cast<int>(std::to_chars(digits, digits + 20, v).ptr - digits);
  for (int i = n; i < width; ++i) *p++ = '0';
  return Append(p, std::string_view(digits, n));
}

inline char* Append2(char* p, uint32_t v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// "YYYY-MM-DDTHH:MM:SSZ"; the caller guarantees years 1..9999.
char* AppendTimestamp(char* p, int64_t unix_seconds) {
  const int64_t day = DayOfTimestamp(unix_seconds);
  const auto sod = static_cast<uint32_t>(unix_seconds - day * 86400);
  const CivilDate c = CivilFromDays(day);
  p = AppendPadded(p, static_cast<uint64_t>(c.year), 4);
  *p++ = '-';
  p = Append2(p, static_cast<uint32_t>(c.month));
  *p++ = '-';
  p = Append2(p, static_cast<uint32_t>(c.day));
  *p++ = 'T';
  p = Append2(p, sod / 3600);
  *p++ = ':';
  p = Append2(p, sod / 60 % 60);
  *p++ = ':';
  p = Append2(p, sod % 60);
  *p++ = 'Z';
  return p;
}

inline char* AppendCents(char* p, int64_t cents) {
  if (cents < 0) {
    *p++ = '-';
    cents = -cents;
  }
  p = AppendUint(p, static_cast<uint64_t>(cents / 100));
  *p++ = '.';
  return Append2(p, static_cast<uint32_t>(cents % 100));
}

int DecimalWidth(uint64_t v) {
  int width = 1;
  while (v >= 10) v /= 10, ++width;
  return width;
}

// Each customer has its own stream, so customer i looks the same whatever N is.
Rng CustomerRng(uint64_t seed, uint64_t index) {
  return Rng(Mix64(seed) ^ Mix64(index ^ kCustomerSalt));
}

// The first draws of a customer's stream: whether it is a guest, and its e-mail address
// ("first.last+<number>@domain", number = index + 1), written to `email` (64 bytes suffice).
struct Identity {
  bool guest = false;
  std::string_view email;
};
Identity DrawIdentity(Rng& rng, uint64_t number, char* email) {
  Identity who;
  who.guest = rng.Bernoulli(kGuestShare);
  char* p = email;
  p = Append(p, kFirstNames[rng.Below(kFirstNames.size())]);
  *p++ = '.';
  p = Append(p, kLastNames[rng.Below(kLastNames.size())]);
  *p++ = '+';
  p = AppendUint(p, number);
  *p++ = '@';
  const double domain = rng.Uniform();
  p = Append(p, kEmailDomains[domain < 0.6 ? 0 : domain < 0.8 ? 1 : 2]);
  who.email = std::string_view(email, static_cast<size_t>(p - email));
  return who;
}

// Nine phone digits per customer (subscriber), bijective on [0, 10^9): distinct people get
// distinct numbers.
constexpr uint64_t kPhoneNumbers = 1'000'000'000;
constexpr uint64_t kPhoneMultiplier = 387'420'489;  // 3^18, coprime to 10^9

uint64_t PhoneDigits(uint64_t seed, uint64_t salt, uint64_t index) {
  const uint64_t offset = Mix64(seed ^ salt) % kPhoneNumbers;
  return ((index % kPhoneNumbers) * kPhoneMultiplier + offset) % kPhoneNumbers;
}

// Whether retailer customer `index` has a phone number, at `share`.
bool RetailerHasPhone(uint64_t seed, uint64_t index, double share) {
  return share > 0.0 && UnitFromBits(Mix64(Mix64(seed ^ kPhoneSalt) ^ Mix64(index))) < share;
}

// A mobile number: "+49 1" + `prefix` digit + 9 digits, as a retailer writes it
// ("+49 17x xxxxxxxx") or in E.164 ("+4917xxxxxxxxx"); returns the end of what it wrote.
char* AppendMobile(char* p, char prefix, uint64_t digits, bool spaced) {
  char nine[9];
  AppendPadded(nine, digits, 9);
  p = Append(p, spaced ? "+49 1" : "+491");
  *p++ = prefix;
  *p++ = nine[0];
  if (spaced) *p++ = ' ';
  return Append(p, std::string_view(nine + 1, 8));
}

// A standard normal deviate from a hash (Box-Muller on two hashed uniforms), so that prices
// are a function of the SKU alone.
double HashedNormal(uint64_t h) {
  const double u1 = 1.0 - UnitFromBits(Mix64(h));
  const double u2 = UnitFromBits(Mix64(h ^ kGolden));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Shop prices: x.49/x.99 below 10 EUR, x.99 below 100, x9.99 above.
uint32_t CharmPriceCents(double euros) {
  euros = std::clamp(euros, 0.29, 2999.0);
  int64_t cents;
  if (euros < 10.0) {
    cents = std::llround(euros * 2.0) * 50 - 1;
  } else if (euros < 100.0) {
    cents = std::llround(euros) * 100 - 1;
  } else {
    cents = std::llround(euros / 10.0) * 1000 - 1;
  }
  return static_cast<uint32_t>(std::max<int64_t>(cents, 29));
}

class Catalog {
 public:
  Catalog(uint32_t leaves, uint64_t seed) : popularity_(ZipfWeights(leaves, seed)) {
    const int width = std::max(3, DecimalWidth(leaves));
    path_.reserve(leaves);
    sku_prefix_.reserve(leaves);
    sku_offset_.reserve(leaves + 1);
    std::string text;
    for (uint32_t leaf = 0; leaf < leaves; ++leaf) {
      const size_t aisle = leaf % kAisles;
      const Department& dept = kDepartments[aisle / 10];
      const std::string_view aisle_name = dept.aisles[aisle % 10];
      char number[24];
      const auto number_len =
          static_cast<size_t>(AppendPadded(number, uint64_t{leaf} + 1, width) - number);
      text.clear();
      text.append(dept.name).append(" > ").append(aisle_name).append(" > ");
      text.append(kVariants[(leaf / kAisles) % kVariants.size()]).append(" ");
      text.append(aisle_name).append(" ").append(number, number_len);
      path_.push_back(text);
      sku_prefix_.push_back("SKU-" + std::string(number, number_len) + "-");

      const uint64_t leaf_hash = Mix64(kPriceSalt ^ (uint64_t{leaf} * kGolden));
      const uint32_t skus = 4 + static_cast<uint32_t>(leaf_hash % 37);
      const double leaf_price = dept.base_price * std::exp(0.6 * HashedNormal(leaf_hash));
      sku_offset_.push_back(static_cast<uint32_t>(price_cents_.size()));
      for (uint32_t k = 0; k < skus; ++k) {
        const double z = HashedNormal(Mix64(leaf_hash + k + 1));
        price_cents_.push_back(CharmPriceCents(leaf_price * std::exp(0.35 * z)));
      }
    }
    sku_offset_.push_back(static_cast<uint32_t>(price_cents_.size()));
  }

  uint32_t SampleLeaf(Rng& rng) const { return popularity_.Sample(rng); }
  // Within a leaf, the first SKUs sell most (u^2 puts half the draws in the first 30%).
  uint32_t SampleSku(Rng& rng, uint32_t leaf) const {
    const double u = rng.Uniform();
    return static_cast<uint32_t>(u * u * static_cast<double>(SkuCount(leaf)));
  }
  uint32_t SkuCount(uint32_t leaf) const { return sku_offset_[leaf + 1] - sku_offset_[leaf]; }
  uint32_t PriceCents(uint32_t leaf, uint32_t sku) const {
    return price_cents_[sku_offset_[leaf] + sku];
  }
  std::string_view Path(uint32_t leaf) const { return path_[leaf]; }
  std::string_view SkuPrefix(uint32_t leaf) const { return sku_prefix_[leaf]; }

 private:
  // Zipf over popularity ranks; which leaf gets which rank is shuffled by the seed so that
  // popular categories are spread over the departments.
  static std::vector<double> ZipfWeights(uint32_t leaves, uint64_t seed) {
    std::vector<uint32_t> rank(leaves);
    for (uint32_t i = 0; i < leaves; ++i) rank[i] = i;
    Rng rng(Mix64(seed ^ kCatalogSalt));
    for (uint32_t i = leaves; i > 1; --i) std::swap(rank[i - 1], rank[rng.Below(i)]);
    std::vector<double> weights(leaves);
    for (uint32_t i = 0; i < leaves; ++i) {
      weights[i] = 1.0 / std::pow(static_cast<double>(rank[i]) + 1.0, kZipfExponent);
    }
    return weights;
  }

  AliasTable popularity_;
  std::vector<std::string> path_;
  std::vector<std::string> sku_prefix_;
  std::vector<uint32_t> sku_offset_;  // leaf -> first index in price_cents_; size leaves + 1
  std::vector<uint32_t> price_cents_;
};

struct Customer {
  bool guest = false;
  double rate = 0.0;            // purchases per day while active
  double dropout = 0.0;         // probability of becoming inactive after a purchase
  double extra_lines = 0.0;     // mean number of lines beyond the first
  double multi_quantity = 0.0;  // probability that a line has quantity > 1
  double online_share = 0.0;
  double app_share = 0.0;  // of online orders
  uint32_t home_store = 0;
  double favourite_share = 0.0;
  std::array<uint32_t, kFavourites> favourite_leaf{};
  std::array<uint32_t, kFavourites> favourite_sku{};
  std::string_view id;  // empty for guests
  std::string_view email;
  std::string_view phone;  // empty without one
};

struct Line {
  uint32_t leaf;
  uint32_t sku;
  int32_t quantity;
};

class Generator {
 public:
  Generator(const GeneratorOptions& options, const ChunkSink& sink)
      : options_(options),
        sink_(sink),
        catalog_(options.categories, options.seed),
        buffer_(kBufferBytes),
        start_day_(AddMonths(options.end_day, -options.months) + 1),
        end_exclusive_(static_cast<double>(options.end_day + 1)),
        last_second_((options.end_day + 1) * 86400 - 1),
        return_probability_(options.void_rate < 1.0
                                ? std::min(1.0, options.return_rate / (1.0 - options.void_rate))
                                : 0.0) {}

  StatusOr<GeneratorStats> Run() {
    Write("order_id,");
    if (!options_.email_only) Write("customer_id,");
    Write(options_.order_level ? "email,ordered_at,amount,currency,store,region,channel,status"
                               : "email,ordered_at,sku,category,quantity,unit_price,currency,"
                                 "store,region,channel,status");
    Write(options_.phone_share > 0.0 ? ",phone\n" : "\n");
    for (uint64_t i = 0; i < options_.customers; ++i) {
      GenerateCustomer(i);
      if (!status_.ok()) return status_;
    }
    Flush();
    if (!status_.ok()) return status_;
    return stats_;
  }

 private:
  void GenerateCustomer(uint64_t index) {
    Rng rng = CustomerRng(options_.seed, index);
    Customer c;
    const uint64_t number = index + 1;
    const Identity who = DrawIdentity(rng, number, email_);
    c.guest = who.guest;
    c.email = who.email;
    if (!c.guest) {
      char* p = id_;
      *p++ = 'K';
      p = AppendPadded(p, number, 8);
      c.id = std::string_view(id_, static_cast<size_t>(p - id_));
    }
    // From a hash of its own, not the customer's stream: without phones the output stays the
    // same byte for byte.
    if (RetailerHasPhone(options_.seed, index, options_.phone_share)) {
      char* end = AppendMobile(phone_, '7', PhoneDigits(options_.seed, kPhoneSalt, index), true);
      c.phone = std::string_view(phone_, static_cast<size_t>(end - phone_));
    }

    // Spend: a customer-level multiplier (lognormal, mean 1) on basket size and quantities.
    const double spend = rng.LogNormal(-0.18, 0.6);
    c.extra_lines = 0.9 * spend;
    c.multi_quantity = std::min(0.5, 0.12 * spend);
    const double u = rng.Uniform();
    c.online_share = c.guest ? 1.0 : u * u;
    c.app_share = rng.Uniform();
    c.home_store = static_cast<uint32_t>(SampleSmall(rng, kStoreCumulative));
    c.favourite_share = 0.1 + 0.4 * rng.Uniform();
    for (size_t f = 0; f < kFavourites; ++f) {
      c.favourite_leaf[f] = catalog_.SampleLeaf(rng);
      c.favourite_sku[f] = catalog_.SampleSku(rng, c.favourite_leaf[f]);
    }

    const double start = static_cast<double>(start_day_);
    const double period = end_exclusive_ - start;
    double t = 0.0;  // time of the next purchase, in days since the epoch
    bool placed = false;
    if (rng.Bernoulli(kExistingShare)) {
      // Acquired before the period: replay the history and keep the customer only if still
      // active when the period starts, as an export of the period would show them.
      for (int attempt = 0; attempt < 64 && !placed; ++attempt) {
        DrawPurchaseBehaviour(rng, c);
        t = start - kHistoryDays * rng.UniformPositive();
        bool active = true;
        while (t < start) {
          if (rng.Bernoulli(c.dropout)) {
            active = false;
            break;
          }
          t += rng.Exponential(c.rate);
        }
        placed = active && t < end_exclusive_;
      }
    }
    if (!placed) {
      // Acquired during the period, at a slowly growing pace.
      DrawPurchaseBehaviour(rng, c);
      t = start + period * std::pow(rng.Uniform(), 0.8);
    }

    ++stats_.customers;
    for (;;) {
      GeneratePurchase(rng, c, t);
      if (rng.Bernoulli(c.dropout)) break;
      t += rng.Exponential(c.rate);
      if (t >= end_exclusive_) break;
    }
  }

  static void DrawPurchaseBehaviour(Rng& rng, Customer& c) {
    c.rate = std::min(kMaxRate, std::max(1e-6, rng.Gamma(kRateShape, kRateScale)));
    c.dropout = rng.Beta(kDropoutA, kDropoutB);
  }

  void GeneratePurchase(Rng& rng, const Customer& c, double t) {
    const int64_t day = std::min(static_cast<int64_t>(std::floor(t)), options_.end_day);
    const bool online = rng.Bernoulli(c.online_share);
    std::string_view channel = "store";
    uint32_t second_of_day;
    if (online) {
      channel = rng.Bernoulli(c.app_share) ? "app" : "online";
      second_of_day = static_cast<uint32_t>(SampleSmall(rng, kOnlineHourCumulative)) * 3600;
    } else {
      second_of_day =
          static_cast<uint32_t>(kFirstStoreHour + SampleSmall(rng, kStoreHourCumulative)) * 3600;
    }
    second_of_day += rng.Below(3600);
    const int64_t ordered_at = day * 86400 + second_of_day;
    const Store& home = kStores[c.home_store];
    const std::string_view store = online ? kOnlineStore : home.name;
    const std::string_view region = kRegions[home.region];

    std::array<Line, kMaxLines> lines;
    const int line_count = 1 + TruncatedGeometric(rng, c.extra_lines, kMaxLines - 1);
    for (int i = 0; i < line_count; ++i) {
      Line& line = lines[i];
      // Redraw a few times rather than list one SKU twice in an order.
      for (int attempt = 0; attempt < 4; ++attempt) {
        if (rng.Bernoulli(c.favourite_share)) {
          const uint32_t f = rng.Below(kFavourites);
          line.leaf = c.favourite_leaf[f];
          line.sku = c.favourite_sku[f];
        } else {
          line.leaf = catalog_.SampleLeaf(rng);
          line.sku = catalog_.SampleSku(rng, line.leaf);
        }
        bool repeated = false;
        for (int j = 0; j < i; ++j) {
          repeated |= lines[j].leaf == line.leaf && lines[j].sku == line.sku;
        }
        if (!repeated) break;
      }
      line.quantity = 1;
      if (rng.Bernoulli(c.multi_quantity)) {
        const double q = rng.Uniform();
        line.quantity = q < 0.6 ? 2 : q < 0.85 ? 3 : 4 + static_cast<int32_t>(rng.Below(3));
      }
    }

    const bool cancelled = rng.Bernoulli(options_.void_rate);
    WriteOrder(rng, c, ordered_at, store, region, channel, cancelled ? "cancelled" : "completed",
               std::span<const Line>(lines.data(), line_count));
    if (cancelled || !rng.Bernoulli(return_probability_)) return;

    // A return 1 hour to 30 days later, inside the period, of part of the order.
    const int64_t room = std::min<int64_t>(30 * 86400, last_second_ - ordered_at);
    if (room < 3600) return;
    const int64_t returned_at = ordered_at + 3600 + rng.Below(static_cast<uint32_t>(room - 3599));
    std::array<Line, kMaxLines> returned;
    int returned_count = 0;
    for (int i = 0; i < line_count; ++i) {
      if (rng.Bernoulli(0.5)) returned[returned_count++] = lines[i];
    }
    if (returned_count == 0) returned[returned_count++] = lines[rng.Below(line_count)];
    for (int i = 0; i < returned_count; ++i) {
      Line& line = returned[i];
      line.quantity = -(1 + static_cast<int32_t>(rng.Below(line.quantity)));
    }
    WriteOrder(rng, c, returned_at, store, region, channel, "returned",
               std::span<const Line>(returned.data(), returned_count));
  }

  // A geometric count (failures before a success, untruncated mean `mean`) conditioned on
  // being <= `max`, by inversion: no pile-up at the cap, one log per draw.
  static int TruncatedGeometric(Rng& rng, double mean, int max) {
    if (mean <= 0.0) return 0;
    const double q = mean / (1.0 + mean);
    const double floor_u = std::pow(q, max + 1);
    const double u = floor_u + (1.0 - floor_u) * rng.UniformPositive();
    const double x = std::floor(std::log(u) / std::log(q));
    return std::clamp(static_cast<int>(x), 0, max);
  }

  void WriteOrder(Rng& rng, const Customer& c, int64_t ordered_at, std::string_view store,
                  std::string_view region, std::string_view channel, std::string_view status,
                  std::span<const Line> lines) {
    // An order, even written twice, fits the buffer in one piece, so a duplicate is a copy.
    if (buffer_.size() - used_ < 2 * kMaxLines * kMaxRowBytes) Flush();
    const uint64_t order_number = ++stats_.orders;

    char prefix[kMaxRowBytes / 2];
    char* p = prefix;
    *p++ = 'O';
    p = AppendPadded(p, order_number, 10);
    *p++ = ',';
    if (!options_.email_only) {
      p = Append(p, c.id);
      *p++ = ',';
    }
    p = Append(p, c.email);
    *p++ = ',';
    p = AppendTimestamp(p, ordered_at);
    *p++ = ',';
    const std::string_view head(prefix, static_cast<size_t>(p - prefix));

    char suffix[kMaxRowBytes / 4];
    p = suffix;
    p = Append(p, ",EUR,");
    p = Append(p, store);
    *p++ = ',';
    p = Append(p, region);
    *p++ = ',';
    p = Append(p, channel);
    *p++ = ',';
    p = Append(p, status);
    if (options_.phone_share > 0.0) {
      *p++ = ',';
      p = Append(p, c.phone);
    }
    *p++ = '\n';
    const std::string_view tail(suffix, static_cast<size_t>(p - suffix));

    char* const begin = buffer_.data() + used_;
    char* out = begin;
    if (options_.order_level) {
      int64_t cents = 0;
      for (const Line& line : lines) {
        cents += int64_t{line.quantity} * catalog_.PriceCents(line.leaf, line.sku);
      }
      out = Append(out, head);
      out = AppendCents(out, cents);
      out = Append(out, tail);
      lines = lines.first(1);
    }
    for (const Line& line : options_.order_level ? std::span<const Line>() : lines) {
      out = Append(out, head);
      out = Append(out, catalog_.SkuPrefix(line.leaf));
      out = AppendPadded(out, uint64_t{line.sku} + 1, 2);
      *out++ = ',';
      out = Append(out, catalog_.Path(line.leaf));
      *out++ = ',';
      if (line.quantity < 0) *out++ = '-';
      out = AppendUint(out, static_cast<uint64_t>(std::abs(line.quantity)));
      *out++ = ',';
      out = AppendCents(out, catalog_.PriceCents(line.leaf, line.sku));
      out = Append(out, tail);
    }
    stats_.lines += lines.size();
    if (rng.Bernoulli(options_.duplicate_rate)) {
      const auto size = static_cast<size_t>(out - begin);
      std::memcpy(out, begin, size);
      out += size;
      stats_.lines += lines.size();
    }
    used_ = static_cast<size_t>(out - buffer_.data());
  }

  void Write(std::string_view text) {
    if (buffer_.size() - used_ < text.size()) Flush();
    std::memcpy(buffer_.data() + used_, text.data(), text.size());
    used_ += text.size();
  }

  void Flush() {
    if (used_ == 0 || !status_.ok()) return;
    status_ = sink_(std::string_view(buffer_.data(), used_));
    stats_.bytes += used_;
    used_ = 0;
  }

  const GeneratorOptions& options_;
  const ChunkSink& sink_;
  const Catalog catalog_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  Status status_;  // the first error the sink returned; generation stops at it
  GeneratorStats stats_;
  const int64_t start_day_;          // first day of the period
  const double end_exclusive_;       // first day after the period, as a time in days
  const int64_t last_second_;        // last second of the period
  const double return_probability_;  // per completed order
  char id_[32];
  char email_[128];
  char phone_[32];
};

bool IsRate(double r) { return std::isfinite(r) && r >= 0.0 && r <= 1.0; }

// A seeded permutation of [0, n): a four-round Feistel network over the smallest even number of
// bits that covers n, walking a value that falls outside [0, n) on round its cycle until it
// falls inside (fewer than four steps on average). O(1) memory at any n.
class Permutation {
 public:
  Permutation(uint64_t n, uint64_t key) : n_(n) {
    int bits = 2;
    while (bits < 62 && (uint64_t{1} << bits) < n) bits += 2;
    half_ = bits / 2;
    mask_ = (uint64_t{1} << half_) - 1;
    for (size_t r = 0; r < keys_.size(); ++r) keys_[r] = Mix64(key + (r + 1) * kGolden);
  }

  uint64_t operator()(uint64_t x) const {
    do {
      x = Encrypt(x);
    } while (x >= n_);
    return x;
  }

 private:
  uint64_t Encrypt(uint64_t x) const {
    uint64_t left = x >> half_, right = x & mask_;
    for (uint64_t k : keys_) {
      const uint64_t next = left ^ (Mix64(right ^ k) & mask_);
      left = right;
      right = next;
    }
    return (left << half_) | right;
  }

  uint64_t n_;
  int half_;
  uint64_t mask_;
  std::array<uint64_t, 4> keys_;
};

// A German mobile operator's subscribers. Shares after the operators' and the Federal
// Statistical Office's published figures, rounded; devices and tariffs depend on the age group
// (18-34, 35-54, 55+).
constexpr std::array<std::string_view, 6> kAgeBands = {"18-24", "25-34", "35-44",
                                                       "45-54", "55-64", "65+"};
constexpr auto kAgeCumulative = Cumulative(std::array<double, 6>{10, 17, 17, 19, 18, 19});
constexpr auto kHomeRegionCumulative = Cumulative(std::array<double, 4>{22, 30, 30, 18});
constexpr std::array<std::string_view, 6> kDevices = {"iPhone", "Samsung",       "Xiaomi",
                                                      "Pixel",  "Android other", "Feature phone"};
constexpr std::array<std::array<double, 6>, 3> kDeviceCumulative = {
    Cumulative(std::array<double, 6>{40, 28, 10, 6, 14, 2}),
    Cumulative(std::array<double, 6>{33, 31, 9, 5, 17, 5}),
    Cumulative(std::array<double, 6>{24, 30, 6, 3, 19, 18})};
constexpr std::array<std::string_view, 5> kTariffs = {"Prepaid", "Basic", "Plus", "Max",
                                                      "Unlimited"};
constexpr std::array<std::array<double, 5>, 3> kTariffCumulative = {
    Cumulative(std::array<double, 5>{30, 15, 25, 15, 15}),
    Cumulative(std::array<double, 5>{15, 20, 30, 20, 15}),
    Cumulative(std::array<double, 5>{35, 35, 20, 7, 3})};
constexpr double kCapitalizedEmailShare = 0.3;
constexpr std::string_view kSubscriberHeader =
    "customer_id,phone,email,age_band,region,device,tariff\n";
constexpr std::array<std::string_view, 4> kSubscriberAttributes = {"age_band", "region", "device",
                                                                   "tariff"};

// Counts by attribute value, kept as arrays while generating.
struct SharedCounts {
  uint64_t subscribers = 0;
  SharedPeople shared;
};

class SubscriberGenerator {
 public:
  SubscriberGenerator(const SubscriberOptions& options, const ChunkSink& sink)
      : options_(options),
        sink_(sink),
        order_(options.subscribers, Mix64(options.seed ^ kSubscriberSalt)),
        pick_(std::max<uint64_t>(options.retailer_customers, 1),
              Mix64(options.seed ^ kSharedSalt)) {
    buffer_.reserve(kBufferBytes + 1024);
    counts_[0].resize(kAgeBands.size());
    counts_[1].resize(kRegions.size());
    counts_[2].resize(kDevices.size());
    counts_[3].resize(kTariffs.size());
  }

  StatusOr<SubscriberTruth> Run() {
    buffer_.append(kSubscriberHeader);
    for (uint64_t j = 0; j < options_.subscribers && status_.ok(); ++j) Subscriber(j);
    Flush();
    if (!status_.ok()) return status_;
    truth_.options = options_;
    const std::array<const std::string_view*, 4> names = {kAgeBands.data(), kRegions.data(),
                                                          kDevices.data(), kTariffs.data()};
    for (size_t a = 0; a < counts_.size(); ++a) {
      const std::string column(kSubscriberAttributes[a]);
      auto& all = truth_.subscribers_by_attribute[column];
      auto& shared = truth_.shared_by_attribute[column];
      for (size_t v = 0; v < counts_[a].size(); ++v) {
        const std::string value(names[a][v]);
        all[value] = counts_[a][v].subscribers;
        shared[value] = counts_[a][v].shared;
      }
    }
    return truth_;
  }

 private:
  void Subscriber(uint64_t j) {
    Rng rng(Mix64(options_.seed ^ kSubscriberSalt) ^ Mix64(j ^ kCustomerSalt));
    // Every draw is made for every subscriber, so that each one's stream does not depend on
    // what an earlier draw decided.
    const bool gave_email = rng.Bernoulli(options_.email_share);
    const bool capitalized = rng.Bernoulli(kCapitalizedEmailShare);
    const uint64_t k = order_(j);
    const bool shared = k < options_.shared;
    char email[128];
    const Identity own = DrawIdentity(rng, 0, email);  // names and domain; the number below
    const size_t age = SampleSmall(rng, kAgeCumulative);
    const size_t region = SampleSmall(rng, kHomeRegionCumulative);
    const size_t group = age < 2 ? 0 : age < 4 ? 1 : 2;
    const size_t device = SampleSmall(rng, kDeviceCumulative[group]);
    const size_t tariff = SampleSmall(rng, kTariffCumulative[group]);

    char phone[32];
    std::string_view email_text;
    bool same_phone = false, same_email = false;
    char* phone_end;
    if (shared) {
      const uint64_t retailer = pick_(k);
      same_phone = RetailerHasPhone(options_.seed, retailer, options_.retailer_phone_share);
      phone_end =
          same_phone
              ? AppendMobile(phone, '7', PhoneDigits(options_.seed, kPhoneSalt, retailer), false)
              : AppendMobile(phone, '5', PhoneDigits(options_.seed, kSubscriberSalt, j), false);
      same_email = gave_email || !same_phone;
      if (same_email) {
        Rng retailer_rng = CustomerRng(options_.seed, retailer);
        email_text = DrawIdentity(retailer_rng, retailer + 1, email).email;
      }
    } else {
      phone_end = AppendMobile(phone, '5', PhoneDigits(options_.seed, kSubscriberSalt, j), false);
      if (gave_email) {
        // The operator's own: "first.last+t<n>@domain", an address no retailer customer has.
        const size_t plus = own.email.find('+');
        const size_t at = own.email.find('@');
        char* p = email + plus + 1;
        const std::string domain(own.email.substr(at));
        *p++ = 't';
        p = AppendUint(p, k - options_.shared + 1);
        p = Append(p, domain);
        email_text = std::string_view(email, static_cast<size_t>(p - email));
      }
    }
    if (!email_text.empty() && capitalized && email[0] >= 'a' && email[0] <= 'z') {
      email[0] = static_cast<char>(email[0] - 'a' + 'A');
    }

    char row[kMaxRowBytes];
    char* p = row;
    *p++ = 'M';
    p = AppendPadded(p, j + 1, 9);
    *p++ = ',';
    p = Append(p, std::string_view(phone, static_cast<size_t>(phone_end - phone)));
    *p++ = ',';
    p = Append(p, email_text);
    *p++ = ',';
    p = Append(p, kAgeBands[age]);
    *p++ = ',';
    p = Append(p, kRegions[region]);
    *p++ = ',';
    p = Append(p, kDevices[device]);
    *p++ = ',';
    p = Append(p, kTariffs[tariff]);
    *p++ = '\n';
    buffer_.append(row, static_cast<size_t>(p - row));
    if (buffer_.size() >= kBufferBytes) Flush();

    ++truth_.subscribers;
    if (!email_text.empty()) ++truth_.with_email;
    const size_t values[4] = {age, region, device, tariff};
    for (size_t a = 0; a < 4; ++a) {
      SharedCounts& c = counts_[a][values[a]];
      ++c.subscribers;
      if (shared) Count(c.shared, same_email, same_phone);
    }
    if (shared) Count(truth_.shared, same_email, same_phone);
  }

  static void Count(SharedPeople& c, bool email, bool phone) {
    ++c.people;
    c.by_email += email;
    c.by_phone += phone;
    c.by_email_and_phone += email && phone;
  }

  void Flush() {
    if (buffer_.empty() || !status_.ok()) return;
    status_ = sink_(buffer_);
    truth_.bytes += buffer_.size();
    buffer_.clear();
  }

  const SubscriberOptions& options_;
  const ChunkSink& sink_;
  const Permutation order_;  // subscriber position -> person: < shared: a retailer customer
  const Permutation pick_;   // shared person -> retailer customer index
  std::string buffer_;
  Status status_;
  SubscriberTruth truth_;
  std::array<std::vector<SharedCounts>, 4> counts_;  // by attribute, value
};

}  // namespace

std::string SubscriberTruth::ToJson() const {
  const auto shared_json = [](const SharedPeople& s) {
    return nlohmann::ordered_json{{"people", s.people},
                                  {"by_email", s.by_email},
                                  {"by_phone", s.by_phone},
                                  {"by_email_and_phone", s.by_email_and_phone}};
  };
  nlohmann::ordered_json j;
  j["seed"] = options.seed;
  j["subscribers"] = subscribers;
  j["retailer_customers"] = options.retailer_customers;
  j["retailer_phone_share"] = options.retailer_phone_share;
  j["email_share"] = options.email_share;
  j["subscribers_with_email"] = with_email;
  j["shared"] = shared_json(shared);
  nlohmann::ordered_json attributes = nlohmann::ordered_json::object();
  for (const std::string_view column : kSubscriberAttributes) {
    const std::string name(column);
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    const auto all = subscribers_by_attribute.find(name);
    const auto shared_values = shared_by_attribute.find(name);
    if (all == subscribers_by_attribute.end() || shared_values == shared_by_attribute.end()) {
      continue;
    }
    for (const auto& [value, n] : all->second) {
      const auto it = shared_values->second.find(value);
      const SharedPeople s = it == shared_values->second.end() ? SharedPeople{} : it->second;
      values[value] = {{"subscribers", n},
                       {"shared", s.people},
                       {"shared_by_email", s.by_email},
                       {"shared_by_phone", s.by_phone},
                       {"shared_by_email_and_phone", s.by_email_and_phone}};
    }
    attributes[name] = std::move(values);
  }
  j["attributes"] = std::move(attributes);
  return j.dump(2);
}

StatusOr<SubscriberTruth> GenerateSubscribers(const SubscriberOptions& options,
                                              const ChunkSink& sink) {
  if (options.subscribers > kPhoneNumbers || options.retailer_customers > kPhoneNumbers) {
    return InvalidArgumentError("subscribers and retailer customers must be at most {}",
                                kPhoneNumbers);
  }
  if (options.shared > options.subscribers || options.shared > options.retailer_customers) {
    return InvalidArgumentError(
        "the shared people ({}) must be at most the subscribers ({}) and the retailer's "
        "customers ({})",
        options.shared, options.subscribers, options.retailer_customers);
  }
  if (!IsRate(options.retailer_phone_share) || !IsRate(options.email_share)) {
    return InvalidArgumentError("the phone and e-mail shares must be between 0 and 1");
  }
  if (!sink) return InvalidArgumentError("no output given");
  return SubscriberGenerator(options, sink).Run();
}

StatusOr<SubscriberTruth> GenerateSubscribers(const SubscriberOptions& options, std::FILE* out) {
  if (out == nullptr) return InvalidArgumentError("no output file given");
  const ChunkSink sink = [out](std::string_view chunk) -> Status {
    if (std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) {
      return UnavailableError("writing the generated subscribers failed: {}", std::strerror(errno));
    }
    return OkStatus();
  };
  TESSERA_ASSIGN_OR_RETURN(SubscriberTruth truth, GenerateSubscribers(options, sink));
  if (std::fflush(out) != 0) {
    return UnavailableError("writing the generated subscribers failed: {}", std::strerror(errno));
  }
  return truth;
}

StatusOr<GeneratorStats> GenerateOrders(const GeneratorOptions& options, const ChunkSink& sink) {
  if (options.months < 1 || options.months > 1200) {
    return InvalidArgumentError("months must be between 1 and 1200, got {}", options.months);
  }
  if (options.categories < 1 || options.categories > 1'000'000) {
    return InvalidArgumentError("categories must be between 1 and 1000000, got {}",
                                options.categories);
  }
  if (!IsRate(options.duplicate_rate) || !IsRate(options.void_rate) ||
      !IsRate(options.return_rate)) {
    return InvalidArgumentError("duplicate, void and return rates must be between 0 and 1");
  }
  if (!IsRate(options.phone_share)) {
    return InvalidArgumentError("the phone share must be between 0 and 1");
  }
  // Keeps CivilFromDays and the timestamp arithmetic far from overflow before checking years.
  if (options.end_day < DaysFromCivil(1, 1, 1) || options.end_day > DaysFromCivil(9999, 12, 31)) {
    return InvalidArgumentError("the end day must be in the years 1 to 9999");
  }
  if (CivilFromDays(AddMonths(options.end_day, -options.months) + 1).year < 1) {
    return InvalidArgumentError("the period must start in year 1 or later");
  }
  if (!sink) return InvalidArgumentError("no output given");
  return Generator(options, sink).Run();
}

StatusOr<GeneratorStats> GenerateOrders(const GeneratorOptions& options, std::FILE* out) {
  if (out == nullptr) return InvalidArgumentError("no output file given");
  const ChunkSink sink = [out](std::string_view chunk) -> Status {
    if (std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) {
      return UnavailableError("writing the generated orders failed: {}", std::strerror(errno));
    }
    return OkStatus();
  };
  TESSERA_ASSIGN_OR_RETURN(GeneratorStats stats, GenerateOrders(options, sink));
  if (std::fflush(out) != 0) {
    return UnavailableError("writing the generated orders failed: {}", std::strerror(errno));
  }
  return stats;
}

}  // namespace tessera::io
