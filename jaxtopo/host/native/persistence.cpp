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

struct UnionFind {
  std::vector<int32_t> parent;
  std::vector<int32_t> oldest;  // per root: the component's birth pixel (or the exterior node)

  explicit UnionFind(int32_t size) : parent(size), oldest(size) {}
  void make(int32_t x) {
    parent[x] = x;
    oldest[x] = x;
  }
  int32_t find(int32_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];  // path halving
      x = parent[x];
    }
    return x;
  }
};

// Neighbour offsets: the first 4 are edge neighbours, the last 4 diagonal ones.
constexpr int kDr[8] = {-1, 1, 0, 0, -1, -1, 1, 1};
constexpr int kDc[8] = {0, 0, -1, 1, -1, 1, -1, 1};

template <typename T>
int64_t persistence(const T* f, int32_t height, int32_t width, int32_t construction,
                    int64_t* creator0, int64_t* destroyer0, int64_t* count0, int64_t* creator1,
                    int64_t* destroyer1, int64_t* count1) {
  const int32_t n = height * width;
  if (n <= 0) return -1;
  std::vector<int32_t> order;
  filtration_order(f, n, order);
  std::vector<int32_t> rank(n + 1);
  for (int32_t r = 0; r < n; ++r) rank[order[r]] = r;
  const int32_t exterior = n;

  const bool top_cells = construction == 0;
  const int forward_neighbours = top_cells ? 8 : 4;
  const int backward_neighbours = top_cells ? 4 : 8;
  UnionFind uf(n + 1);

  // dimension 0: increasing order, older = smaller rank
  int64_t k0 = 0;
  for (int32_t r = 0; r < n; ++r) {
    const int32_t p = order[r];
    const int32_t row = p / width, col = p % width;
    uf.make(p);
    for (int k = 0; k < forward_neighbours; ++k) {
      const int32_t rr = row + kDr[k], cc = col + kDc[k];
      if (rr < 0 || rr >= height || cc < 0 || cc >= width) continue;
      const int32_t q = rr * width + cc;
      if (rank[q] > r) continue;  // not entered yet
      int32_t a = uf.find(p), b = uf.find(q);
      if (a == b) continue;
      if (rank[uf.oldest[a]] > rank[uf.oldest[b]]) std::swap(a, b);  // a is the elder
      const int32_t born = uf.oldest[b];
      if (f[born] < f[p]) {
        creator0[k0] = born;
        destroyer0[k0] = p;
        ++k0;
      }
      uf.parent[b] = a;
    }
  }
  // the essential class: born at the first pixel, "dies" at the first maximum of f
  int32_t argmax = 0;
  for (int32_t i = 1; i < n; ++i)
    if (f[i] > f[argmax]) argmax = i;
  creator0[k0] = order[0];
  destroyer0[k0] = argmax;
  ++k0;

  // dimension 1: decreasing order on the complement. Ties enter by index descending here too
  // (any order consistent with the values gives the same diagram; this one picks the same
  // critical pixels as gudhi on binary images). Older = entered earlier = smaller position.
  std::vector<int32_t> down(order.rbegin(), order.rend());
  for (int32_t start = 0; start < n;) {
    int32_t end = start + 1;
    while (end < n && f[down[end]] == f[down[start]]) ++end;
    std::reverse(down.begin() + start, down.begin() + end);
    start = end;
  }
  for (int32_t r = 0; r < n; ++r) rank[down[r]] = r + 1;
  rank[exterior] = 0;  // the exterior is older than every pixel
  int64_t k1 = 0;
  uf.make(exterior);
  for (int32_t r = 0; r < n; ++r) {
    const int32_t p = down[r];
    const int32_t row = p / width, col = p % width;
    uf.make(p);
    auto merge = [&](int32_t q) {
      int32_t a = uf.find(p), b = uf.find(q);
      if (a == b) return;
      if (rank[uf.oldest[a]] > rank[uf.oldest[b]]) std::swap(a, b);  // a is the elder
      const int32_t filled = uf.oldest[b];
      if (f[p] < f[filled]) {
        creator1[k1] = p;
        destroyer1[k1] = filled;
        ++k1;
      }
      uf.parent[b] = a;
    };
    for (int k = 0; k < backward_neighbours; ++k) {
      const int32_t rr = row + kDr[k], cc = col + kDc[k];
      if (rr < 0 || rr >= height || cc < 0 || cc >= width) continue;
      const int32_t q = rr * width + cc;
      if (rank[q] > r + 1) continue;  // not entered yet
      merge(q);
    }
    if (row == 0 || row == height - 1 || col == 0 || col == width - 1) merge(exterior);
  }
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
