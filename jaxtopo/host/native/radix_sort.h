// The engine's sort: floats as unsigned integers of the same order, and a stable LSD radix sort
// of items by such keys (persistence.cpp sorts pixels with it, betti_matching.cpp edges).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace jaxtopo_native {

template <typename T>
struct Bits;
template <>
struct Bits<float> {
  using U = uint32_t;
};
template <>
struct Bits<double> {
  using U = uint64_t;
};

// Maps a float to an unsigned integer with the same order (finite values and +inf; no NaN by
// contract).
template <typename T>
inline typename Bits<T>::U ordered_bits(T value) {
  using U = typename Bits<T>::U;
  if (value == T(0)) value = T(0);  // -0 and +0 are one value
  U u;
  std::memcpy(&u, &value, sizeof u);
  const U sign = U(1) << (sizeof(U) * 8 - 1);
  return (u & sign) ? ~u : (u | sign);
}

constexpr int kDigitBits = 11;  // 2048 counters per digit stay in L1
constexpr uint32_t kBuckets = 1u << kDigitBits;

template <typename U>
constexpr int digit_passes() {
  return (sizeof(U) * 8 + kDigitBits - 1) / kDigitBits;
}

// Counts a key's digits into the histograms of every pass (digit_passes<U>() * kBuckets
// counters, zeroed by the caller), so that making the items also prepares the sort.
template <typename U>
inline void count_digits(U key, uint32_t* histogram) {
  for (int pass = 0; pass < digit_passes<U>(); ++pass)
    ++histogram[pass * kBuckets + ((key >> (pass * kDigitBits)) & (kBuckets - 1))];
}

// Stable LSD radix sort of items (anything with an unsigned `key`) by key, with the histograms
// of count_digits; a digit that is the same for every item costs nothing (values in [0, 1]
// share most exponent bits, a binary image has two values).
template <typename Item>
void radix_sort(std::vector<Item>& items, std::vector<Item>& buffer, uint32_t* histogram) {
  using U = decltype(Item::key);
  const size_t n = items.size();
  buffer.resize(n);
  if (n < 2) return;
  for (int pass = 0; pass < digit_passes<U>(); ++pass) {
    uint32_t* count = histogram + pass * kBuckets;
    const unsigned shift = pass * kDigitBits;
    if (count[(items[0].key >> shift) & (kBuckets - 1)] == n) continue;  // constant digit
    uint32_t total = 0;
    for (uint32_t b = 0; b < kBuckets; ++b) {
      const uint32_t here = count[b];
      count[b] = total;
      total += here;
    }
    for (const Item& item : items) buffer[count[(item.key >> shift) & (kBuckets - 1)]++] = item;
    items.swap(buffer);
  }
}

}  // namespace jaxtopo_native
