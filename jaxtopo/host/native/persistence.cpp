// Cubical persistence of a 2D image with creator and destroyer pixels, dimensions 0 and 1.
//
// Sublevel filtration of f. Pixels enter in a total order: value ascending, ties by flat C-order
// index descending (the tie order of the official SATLoss call into gudhi). One stable LSD radix
// sort gives that order; then two union-find passes:
//   dimension 0: pixels in increasing order; components are 8-connected (T-construction,
//     pixels are top cells) or 4-connected (V-construction, pixels are vertices). When a pixel
//     joins components, all but the oldest die there (elder rule).
//   dimension 1: by Alexander duality, pixels in decreasing order with the complementary
//     connectivity (4 for T, 8 for V) plus one exterior node, older than every pixel, that
//     touches the image border. When components of the complement merge at pixel p, the
//     younger one (born at its highest pixel d) was a hole: a loop born at p, filled at d.
// Pairs of zero persistence are dropped, as gudhi does. The essential dimension-0 class is
// reported with destroyer = first argmax of f in C order (what the official code does).
//
// Exposed through a C ABI and loaded with ctypes, which releases the GIL during the call.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

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

// Maps a float to an unsigned integer with the same order (no NaN by contract).
template <typename T>
typename Bits<T>::U ordered_bits(T value) {
  using U = typename Bits<T>::U;
  if (value == T(0)) value = T(0);  // -0 and +0 are one value
  U u;
  std::memcpy(&u, &value, sizeof u);
  const U sign = U(1) << (sizeof(U) * 8 - 1);
  return (u & sign) ? ~u : (u | sign);
}

// Pixel order: value ascending, ties by index descending. Stable LSD radix sort on 16-bit
// digits, started from the index-descending permutation.
template <typename T>
void filtration_order(const T* f, int32_t n, std::vector<int32_t>& order) {
  using U = typename Bits<T>::U;
  std::vector<U> keys(n);
  for (int32_t i = 0; i < n; ++i) keys[i] = ordered_bits(f[i]);
  order.resize(n);
  for (int32_t i = 0; i < n; ++i) order[i] = n - 1 - i;
  std::vector<int32_t> buffer(n);
  std::vector<int32_t> count(1 << 16);
  for (unsigned shift = 0; shift < sizeof(U) * 8; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (int32_t i = 0; i < n; ++i) ++count[(keys[i] >> shift) & 0xFFFF];
    if (count[(keys[0] >> shift) & 0xFFFF] == n) continue;  // digit constant: nothing to do
    int32_t total = 0;
    for (auto& c : count) {
      const int32_t here = c;
      c = total;
      total += here;
    }
    for (int32_t i = 0; i < n; ++i) {
      const int32_t p = order[i];
      buffer[count[(keys[p] >> shift) & 0xFFFF]++] = p;
    }
    order.swap(buffer);
  }
}

// One cell of the image padded by one ring: its entry position and its union-find parent, side
// by side so that a neighbourhood visit touches few cache lines. Unions always hang the younger
// root below the elder one, so a root is its component's oldest cell and its rank is the
// component's birth (no separate birth array).
struct Cell {
  int32_t rank;
  int32_t parent;
};

inline int32_t find_root(Cell* cells, int32_t x) {
  while (cells[x].parent != x) {
    cells[x].parent = cells[cells[x].parent].parent;  // path halving
    x = cells[x].parent;
  }
  return x;
}

// One union-find sweep over pixels entering in `sequence` order (flat indices); pixel
// sequence[r] has rank r + shift in `cells` (shift = 1 leaves rank 0 to the exterior ring).
// For every merge of two components at pixel p, emit(oldest pixel of the younger component, p),
// unless both have the same value (zero persistence, dropped as gudhi does).
template <typename T, typename Emit>
void sweep(const T* f, const std::vector<int32_t>& sequence, int32_t shift, int32_t width,
           std::vector<Cell>& cells, const int32_t* offsets, int offset_count, Emit emit) {
  const int32_t n = static_cast<int32_t>(sequence.size());
  const int32_t pw = width + 2;
  int32_t tie_start = shift;  // first rank holding the current value
  for (int32_t i = 0; i < n; ++i) {
    const int32_t pixel = sequence[i];
    const int32_t r = i + shift;
    if (i > 0 && f[pixel] != f[sequence[i - 1]]) tie_start = r;
    const int32_t p = (pixel / width + 1) * pw + pixel % width + 1;
    cells[p].parent = p;
    int32_t root = p;
    for (int k = 0; k < offset_count; ++k) {
      const int32_t q = p + offsets[k];
      if (cells[q].rank > r) continue;  // not entered yet
      int32_t other = find_root(cells.data(), q);
      if (other == root) continue;
      if (cells[root].rank > cells[other].rank) std::swap(root, other);  // root is the elder
      cells[other].parent = root;
      // the younger component dies here (the exterior, rank 0, is never the younger one)
      if (cells[other].rank < tie_start) emit(sequence[cells[other].rank - shift], pixel);
    }
  }
}

template <typename T>
int64_t persistence(const T* f, int32_t height, int32_t width, int32_t construction,
                    int64_t* creator0, int64_t* destroyer0, int64_t* count0, int64_t* creator1,
                    int64_t* destroyer1, int64_t* count1) {
  const int32_t n = height * width;
  if (n <= 0) return -1;
  std::vector<int32_t> up;  // flat C-order pixel indices in filtration order
  filtration_order(f, n, up);

  // A ring of cells around the image removes every bounds check: in the increasing sweep it
  // never enters; in the decreasing sweep it is the exterior, present before every pixel.
  const int32_t pw = width + 2;
  const int32_t padded = (height + 2) * pw;
  auto to_padded = [&](int32_t p) { return (p / width + 1) * pw + p % width + 1; };
  const int32_t edge[4] = {-pw, pw, -1, 1};
  const int32_t all[8] = {-pw, pw, -1, 1, -pw - 1, -pw + 1, pw - 1, pw + 1};
  const bool top_cells = construction == 0;

  std::vector<Cell> cells(padded, Cell{INT32_MAX, 0});
  for (int32_t r = 0; r < n; ++r) cells[to_padded(up[r])].rank = r;

  // dimension 0: increasing order, components 8-connected (T) or 4-connected (V)
  int64_t k0 = 0;
  sweep(f, up, 0, width, cells, top_cells ? all : edge, top_cells ? 8 : 4,
        [&](int32_t born, int32_t dies) {
          creator0[k0] = born;
          destroyer0[k0] = dies;
          ++k0;
        });
  // the essential class: born at the first pixel, "dies" at the first maximum of f
  int32_t argmax = 0;
  for (int32_t i = 1; i < n; ++i)
    if (f[i] > f[argmax]) argmax = i;
  creator0[k0] = up[0];
  destroyer0[k0] = argmax;
  ++k0;

  // dimension 1: decreasing order on the complement. Ties enter by index descending here too
  // (any order consistent with the values gives the same diagram; this one picks the same
  // critical pixels as gudhi on binary images).
  std::vector<int32_t> down(up.rbegin(), up.rend());
  for (int32_t start = 0; start < n;) {
    int32_t end = start + 1;
    while (end < n && f[down[end]] == f[down[start]]) ++end;
    std::reverse(down.begin() + start, down.begin() + end);
    start = end;
  }
  // ranks are shifted by one: the ring is the exterior, one component rooted at cell 0 with
  // rank 0, older than every pixel
  for (int32_t q = 0; q < padded; ++q) cells[q] = Cell{0, 0};
  for (int32_t r = 0; r < n; ++r) cells[to_padded(down[r])].rank = r + 1;
  int64_t k1 = 0;
  // a loop is born at the pixel where two complement components meet and filled at the
  // younger component's oldest (highest) pixel
  sweep(f, down, 1, width, cells, top_cells ? edge : all, top_cells ? 4 : 8,
                [&](int32_t filled, int32_t closes) {
                  creator1[k1] = closes;
                  destroyer1[k1] = filled;
                  ++k1;
                });
  *count0 = k0;
  *count1 = k1;
  return 0;
}

}  // namespace

extern "C" {

// Returns 0 on success. Output arrays must hold height * width entries each.
int64_t jaxtopo_persistence_f32(const float* f, int32_t height, int32_t width,
                                int32_t construction, int64_t* creator0, int64_t* destroyer0,
                                int64_t* count0, int64_t* creator1, int64_t* destroyer1,
                                int64_t* count1) {
  return persistence(f, height, width, construction, creator0, destroyer0, count0, creator1,
                     destroyer1, count1);
}

int64_t jaxtopo_persistence_f64(const double* f, int32_t height, int32_t width,
                                int32_t construction, int64_t* creator0, int64_t* destroyer0,
                                int64_t* count0, int64_t* creator1, int64_t* destroyer1,
                                int64_t* count1) {
  return persistence(f, height, width, construction, creator0, destroyer0, count0, creator1,
                     destroyer1, count1);
}
}
