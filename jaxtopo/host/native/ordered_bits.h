// Floats as unsigned integers of the same order, the sort keys of the engine's radix sorts.
#pragma once

#include <cstdint>
#include <cstring>

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

}  // namespace jaxtopo_native
