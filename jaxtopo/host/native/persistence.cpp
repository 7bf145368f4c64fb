// Cubical persistence of a 2D image with creator and destroyer pixels, dimensions 0 and 1.
//
// Sublevel filtration of f. Pixels enter in a total order: value ascending, ties by flat C-order
// index descending (the tie order of the official SATLoss call into gudhi). One stable LSD radix
// sort gives that order; then two union-find sweeps:
//   dimension 0: pixels in increasing order; components are 8-connected (T-construction,
//     pixels are top cells) or 4-connected (V-construction, pixels are vertices). When a pixel
//     joins components, all but the oldest die there (elder rule).
//   dimension 1: by Alexander duality, pixels in decreasing order with the complementary
//     connectivity (4 for T, 8 for V) plus one exterior component, older than every pixel, that
//     touches the image border. When components of the complement merge at pixel p, the
//     younger one (born at its highest pixel d) was a hole: a loop born at p, filled at d.
// Pairs of zero persistence are dropped, as gudhi does. The essential dimension-0 class is
// reported with destroyer = first argmax of f in C order (what the official code does).
//
// Speed (300x300, one core, about 3.5 ms): the sort takes a fifth, the sweeps the rest, most of it
// waiting on memory, since pixels enter in an order with no locality. So the sweeps work on the
// image padded by one ring of cells (no bounds checks, no divisions), test which neighbours have
// entered in a byte map that stays in cache, without branches, and visit one neighbour per group
// of touching ones. Work buffers are kept per thread, so repeated calls touch no fresh pages.
//
// Exposed through a C ABI and loaded with ctypes, which releases the GIL during the call.

#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "radix_sort.h"

namespace {

using namespace jaxtopo_native;  // radix_sort.h: float keys and the radix sort

template <typename U>
struct Item {
  U key;         // the pixel's value as an order-preserving integer
  int32_t cell;  // the pixel's index in the padded frame
};

// A padded cell's entry rank and its union-find parent, side by side so that a visit touches
// one cache line. Unions always hang the younger root below the elder one, so a root is its
// component's oldest cell: the component was born there.
struct Cell {
  int32_t rank;
  int32_t parent;
};

// Buffers reused by every call on the same thread.
template <typename U>
struct Workspace {
  std::vector<Item<U>> items, buffer;
  std::vector<Cell> cells;
  std::vector<uint8_t> entered;
};

// Not inlined: in the shared library a thread_local's address comes from __tls_get_addr, which GCC
// may recompute inside loops once the accessor is inlined (betti_matching.cpp measured the cost).
template <typename U>
__attribute__((noinline)) Workspace<U>& workspace() {
  thread_local Workspace<U> space;
  return space;
}

// Items of all pixels in decreasing C-order index (so the stable sort breaks ties that way),
// with the digit histograms of every radix pass counted on the way. Keys are made from the
// values as K (float for doubles that are all exactly floats).
template <typename K, typename T, typename U = typename Bits<K>::U>
void make_items(const T* f, int32_t height, int32_t width, std::vector<Item<U>>& items,
                uint32_t* histogram) {
  const int32_t pw = width + 2;
  items.resize(int64_t(height) * width);
  int64_t k = 0;
  for (int32_t row = height - 1; row >= 0; --row) {
    for (int32_t col = width - 1; col >= 0; --col) {
      const U key = ordered_bits(static_cast<K>(f[int64_t(row) * width + col]));
      items[k++] = Item<U>{key, (row + 1) * pw + col + 1};
      count_digits(key, histogram);
    }
  }
}

inline int32_t find_root(Cell* cells, int32_t x) {
  while (cells[x].parent != x) {
    cells[x].parent = cells[cells[x].parent].parent;  // path halving
    x = cells[x].parent;
  }
  return x;
}

// Which neighbours to visit, from the mask of entered ones (bit k: ring position k; corners at
// even positions, edges at odd ones). Entered cells that touch are one component already, so one
// cell of each touching run is enough:
//   8-connectivity: consecutive ring positions touch: one cell per run of entered positions;
//   4-connectivity: only edges connect to the pixel, and two consecutive edges touch through the
//     corner between them when that corner has entered too.
inline unsigned cells_to_visit(unsigned entered, bool eight_connected) {
  const unsigned previous = ((entered << 1) | (entered >> 7)) & 0xFFu;  // bit k: position k - 1
  if (eight_connected) return entered == 0xFFu ? 1u : entered & ~previous;
  const unsigned edges = entered & 0xAAu;
  const unsigned linked = edges & previous & ((edges << 2) | (edges >> 6));  // edge k - 2, corner k - 1
  const unsigned starts = edges & ~linked;
  return (starts == 0 && edges != 0) ? (edges & (0u - edges)) : starts;  // all four linked: one
}

// One union-find sweep. Cells enter through enter(p, rank, first_of_value) in filtration
// order; for every merge of two components at cell p it calls emit(root of the younger
// component, p), unless that component was born at p's own value (zero persistence, dropped as
// gudhi does).
template <bool kEightConnected, typename Emit>
class Sweep {
 public:
  Sweep(Cell* cells, uint8_t* entered, int32_t padded_width, Emit emit)
      : cells_(cells),
        entered_(entered),
        ring_{-padded_width - 1, -padded_width, -padded_width + 1, 1,
              padded_width + 1,  padded_width,  padded_width - 1,  -1},
        emit_(emit) {}

  // Asks for the cache lines a later enter(p) will read: pixels enter in an order with no
  // locality, so without this every visit waits on memory.
  void prefetch(int32_t p) const {
    for (int32_t row : {ring_[1], 0, ring_[5]}) {
      __builtin_prefetch(cells_ + p + row);
      __builtin_prefetch(entered_ + p + row);
    }
  }

  void enter(int32_t p, int32_t rank, bool first_of_value) {
    if (first_of_value) value_start_ = rank;
    unsigned entered = 0;
    // branch-free: whether a neighbour has entered is a coin flip no predictor learns
    for (int k = 0; k < 8; ++k) entered |= unsigned(entered_[p + ring_[k]]) << k;
    entered_[p] = 1;
    cells_[p].rank = rank;
    unsigned visit = cells_to_visit(entered, kEightConnected);
    if (!visit) {  // a new component
      cells_[p].parent = p;
      return;
    }
    const int32_t first = p + ring_[__builtin_ctz(visit)];
    if ((visit & (visit - 1)) == 0) {
      // one neighbouring component: p hangs below the neighbour itself, not its root; no find,
      // since nothing merges, and later finds shorten the path (5 % faster on 300x300)
      cells_[p].parent = first;
      return;
    }
    // the first neighbouring component takes p in (p is younger than all of them)
    int32_t root = find_root(cells_, first);
    cells_[p].parent = root;
    for (visit &= visit - 1; visit; visit &= visit - 1) {
      int32_t other = find_root(cells_, p + ring_[__builtin_ctz(visit)]);
      if (other == root) continue;
      if (cells_[root].rank > cells_[other].rank) std::swap(root, other);  // root is the elder
      cells_[other].parent = root;
      // the younger component dies here (the exterior, rank 0, is never the younger one)
      if (cells_[other].rank < value_start_) emit_(other, p);
    }
  }

 private:
  Cell* cells_;
  uint8_t* entered_;
  const int32_t ring_[8];
  Emit emit_;
  int32_t value_start_ = 0;  // first rank holding the current value
};

template <bool kEightConnected, typename Emit>
Sweep<kEightConnected, Emit> make_sweep(Cell* cells, uint8_t* entered, int32_t pw, Emit emit) {
  return Sweep<kEightConnected, Emit>(cells, entered, pw, emit);
}

constexpr int32_t kPrefetchDistance = 16;

// Dimension 0: pixels in increasing order.
template <bool kEightConnected, typename U, typename Emit>
void increasing_sweep(const Item<U>* items, int32_t n, Cell* cells, uint8_t* entered, int32_t pw,
                      Emit emit) {
  auto sweep = make_sweep<kEightConnected>(cells, entered, pw, emit);
  for (int32_t i = 0; i < n; ++i) {
    if (i + kPrefetchDistance < n) sweep.prefetch(items[i + kPrefetchDistance].cell);
    sweep.enter(items[i].cell, i, i == 0 || items[i].key != items[i - 1].key);
  }
}

// Dimension 1: pixels in decreasing order of value; within a value still by decreasing index
// (any order consistent with the values gives the same diagram; this one picks the same
// critical pixels as gudhi on binary images). Ranks start at 1: 0 is the exterior's.
template <bool kEightConnected, typename U, typename Emit>
void decreasing_sweep(const Item<U>* items, int32_t n, Cell* cells, uint8_t* entered, int32_t pw,
                      Emit emit) {
  auto sweep = make_sweep<kEightConnected>(cells, entered, pw, emit);
  int32_t rank = 1;
  for (int32_t end = n; end > 0;) {
    int32_t start = end - 1;
    while (start > 0 && items[start - 1].key == items[end - 1].key) --start;
    for (int32_t i = start; i < end; ++i) {
      // the pixel entering kPrefetchDistance steps later, in most cases (ties aside)
      if (start >= kPrefetchDistance) sweep.prefetch(items[start - kPrefetchDistance + (i - start)].cell);
      sweep.enter(items[i].cell, rank++, i == start);
    }
    end = start;
  }
}

template <typename K, typename T>
int64_t persistence(const T* f, int32_t height, int32_t width, int32_t construction,
                    int64_t* creator0, int64_t* destroyer0, int64_t* count0, int64_t* creator1,
                    int64_t* destroyer1, int64_t* count1) {
  using U = typename Bits<K>::U;
  if (height <= 0 || width <= 0) return -1;
  if ((int64_t(height) + 2) * (int64_t(width) + 2) > INT32_MAX) return -3;  // cells are int32
  Workspace<U>& space = workspace<U>();
  // A ring of cells around the image removes every bounds check: in the increasing sweep it
  // never enters; in the decreasing sweep it is the exterior, present before every pixel.
  const int32_t pw = width + 2;
  const int32_t padded = (height + 2) * pw;
  auto to_pixel = [&](int32_t cell) -> int64_t { return int64_t(cell / pw - 1) * width + cell % pw - 1; };

  std::vector<uint32_t> histogram(digit_passes<U>() * kBuckets, 0);
  make_items<K>(f, height, width, space.items, histogram.data());
  radix_sort(space.items, space.buffer, histogram.data());
  // raw pointers from here on: the hot loops must not go through thread-local storage, which a
  // shared library reaches by a call (measured: 15 % slower)
  const Item<U>* items = space.items.data();
  const int32_t n = height * width;

  // Pixel cells get their rank and parent when they enter; ring cells all hang below cell 0, a
  // root of rank 0 (only the decreasing sweep ever reaches them), so only they are initialised.
  space.cells.resize(padded);
  for (int32_t col = 0; col < pw; ++col) space.cells[col] = space.cells[padded - 1 - col] = Cell{0, 0};
  for (int32_t row = 1; row <= height; ++row) space.cells[row * pw] = space.cells[row * pw + pw - 1] = Cell{0, 0};
  space.entered.assign(padded, 0);
  Cell* cells = space.cells.data();
  uint8_t* entered = space.entered.data();
  const bool top_cells = construction == 0;

  // dimension 0: components 8-connected (T) or 4-connected (V)
  int64_t k0 = 0;
  auto dim0 = [&](int32_t born, int32_t dies) {
    creator0[k0] = to_pixel(born);
    destroyer0[k0] = to_pixel(dies);
    ++k0;
  };
  if (top_cells)
    increasing_sweep<true>(items, n, cells, entered, pw, dim0);
  else
    increasing_sweep<false>(items, n, cells, entered, pw, dim0);
  // the essential class: born at the first pixel, "dies" at the first maximum of f in C order,
  // which is the last pixel of the order (ties enter by decreasing index)
  creator0[k0] = to_pixel(items[0].cell);
  destroyer0[k0] = to_pixel(items[n - 1].cell);
  ++k0;

  // dimension 1: the complement, 4-connected (T) or 8-connected (V), with the exterior ring
  std::memset(entered, 0, padded);
  std::memset(entered, 1, pw);
  std::memset(entered + padded - pw, 1, pw);
  for (int32_t row = 1; row <= height; ++row) entered[row * pw] = entered[row * pw + pw - 1] = 1;
  int64_t k1 = 0;
  // a loop is born at the pixel where two complement components meet and filled at the
  // younger component's oldest (highest) pixel
  auto dim1 = [&](int32_t filled, int32_t closes) {
    creator1[k1] = to_pixel(closes);
    destroyer1[k1] = to_pixel(filled);
    ++k1;
  };
  if (top_cells)
    decreasing_sweep<false>(items, n, cells, entered, pw, dim1);
  else
    decreasing_sweep<true>(items, n, cells, entered, pw, dim1);
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
  return persistence<float>(f, height, width, construction, creator0, destroyer0, count0, creator1,
                            destroyer1, count1);
}

// Doubles that are all exactly floats (a float32 likelihood handed over as float64) take the
// float path: the same order and ties with half the sort passes.
int64_t jaxtopo_persistence_f64(const double* f, int32_t height, int32_t width,
                                int32_t construction, int64_t* creator0, int64_t* destroyer0,
                                int64_t* count0, int64_t* creator1, int64_t* destroyer1,
                                int64_t* count1) {
  const int64_t n = int64_t(height) * width;
  bool exact = true;
  for (int64_t i = 0; i < n && exact; ++i) exact = static_cast<double>(static_cast<float>(f[i])) == f[i];
  if (exact)
    return persistence<float>(f, height, width, construction, creator0, destroyer0, count0,
                              creator1, destroyer1, count1);
  return persistence<double>(f, height, width, construction, creator0, destroyer0, count0,
                             creator1, destroyer1, count1);
}
}
