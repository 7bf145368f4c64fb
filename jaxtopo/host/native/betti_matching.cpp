// Betti matching of a prediction and a target (2D), both dimensions, in one call per image.
//
// The definition, the total order of cells and the pixels of every pair are fixed in
// docs/betti-matching.md; jaxtopo/host/betti_matching.py states the same algorithm in plain
// Python and the tests hold the two equal. In short, on two graphs per construction:
//   dimension 0: Kruskal on the primal graph (pixels; edges valued by the max of their pixels) in
//     increasing (value, edge index); the younger component dies at each merge.
//   dimension 1: Kruskal on the dual graph (V: 2x2 squares, T: pixels; plus the exterior) in
//     decreasing (value, edge index), older = larger (value, node index); by Alexander duality
//     each merge is a loop born at the edge and filled at the younger node.
//   induced matching: the image persistence of f -> c = min(f, g) (and g -> c) runs Kruskal with
//     union-finds that share one partition but age their nodes by different images; pairs of f and
//     g that reach the same pair of c are matched.
//
// The target is prepared once (PreparedTarget; jaxtopo caches it by the target's content): its
// pairs, the pair born at each pixel, the parts that its dual edges above its largest loop birth
// t make, and the merges of its dual sweep at or below t. A call then sorts the edges of f, sorts
// the few edges of c = min(f, g) that differ from f's, runs the sweeps of f (both dimensions),
// ages the target's parts by c and replays its merges below t instead of sweeping the target
// again, and runs what of c's sweeps a match can depend on.
//
// Speed (300x300, one core of a 2-core AMD EPYC VM: about 13-15 ms of thread CPU time; about
// 4.2 ms building the prediction's edge lists, 1.5 ms the comparison image, 7-8 ms in the
// sweeps): on V the prediction's edges are put in order from a stable LSD radix sort of its
// pixels (build_vertices: an edge's value is its larger pixel's, so each pixel gives its edges
// to lower neighbours, already in index order; half the keys of an edge sort). On T the edges
// themselves are radix-sorted (edges are generated in index order, so ties stay in index order;
// digit passes that every key shares are skipped). The comparison image equals f wherever
// g >= f, which for a binary target is everywhere off its foreground; when at most 1 pixel in 8
// differs, only the edges touching those pixels are sorted, and merged with f's order when a
// sweep needs them (Filtered::derive). The union-finds of image persistence share one partition,
// so one union-find whose components remember their oldest node under several ages serves them
// all; its parent array is kept alone so that finds, which wait on memory, touch 4 bytes a node,
// and the sweeps prefetch the parents of the nodes 16 edges ahead. On V, the dual sweep leaves out
// the first edge of each pixel alone at its value (a join of the primal sweep, so never a dual
// merge); dimension 0 makes those joins in one pass, then sweeps only the edges on which the dual
// sweep did not merge (by duality, the rest of the primal spanning tree). A
// dimension where the target (or the prediction) has no pair skips its comparison sweep, and the
// comparison's dual sweep only links (in index order) the edges above the target's largest loop
// birth, where no match can happen (dimension1 says why). Buffers are kept per thread, so
// repeated calls touch no fresh pages. docs/betti-matching.md, "Speed", has each step measured,
// what was tried and was slower, and where more speed could come from.
//
// Exposed through a C ABI and loaded with ctypes, which releases the GIL during the call.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "radix_sort.h"

namespace {

using namespace jaxtopo_native;  // radix_sort.h: float keys and the radix sort

// How many edges ahead a sweep asks the memory for the parents of the nodes it will find: 16,
// measured against 8 and 32 (no difference) and none (about 1 ms slower at 300x300).
constexpr size_t kPrefetch = 16;

template <typename U>
struct Item {
  U key;       // the edge's value as an order-preserving integer
  int32_t id;  // the edge's index
};

// An edge in a sweep: its two nodes, its pixel and its value, stored in sweep order so that a
// sweep reads its edges as one stream.
template <typename T>
struct Edge {
  int32_t x, y, pixel;
  T value;
};
// V: a dual edge in the dual sweep's stream: the two squares on the sides of the primal edge
// edges[slot], whose pixel and value are the dual edge's
struct Slot {
  int32_t x, y, slot;
};

// The edges of both graphs for one shape and construction, as edge indices in increasing order:
// index = anchor pixel * K + type (docs/betti-matching.md), so endpoints follow by arithmetic.
struct Graphs {
  int32_t height = -1, width = -1, construction = -1;
  std::vector<int32_t> primal, dual;  // valid edge indices
  int32_t dual_nodes = 0;             // the last one is the exterior

  bool vertices() const { return construction == 1; }
  int primal_k() const { return vertices() ? 2 : 4; }
  // primal edge: types 0 down, 1 right, 2 down-right, 3 down-left
  int32_t other_end(int32_t u, int type) const {
    return u + (type == 0 ? width : type == 1 ? 1 : type == 2 ? width + 1 : width - 1);
  }

  void build(int32_t h, int32_t w, int32_t c) {
    if (h == height && w == width && c == construction) return;
    height = h, width = w, construction = c;
    primal.clear(), dual.clear();
    for (int32_t r = 0; r < h; ++r) {
      for (int32_t col = 0; col < w; ++col) {
        const int32_t p = r * w + col;
        if (vertices()) {
          if (r + 1 < h) primal.push_back(2 * p);
          if (col + 1 < w) primal.push_back(2 * p + 1);
          continue;
        }
        if (r + 1 < h) primal.push_back(4 * p);
        if (col + 1 < w) primal.push_back(4 * p + 1);
        if (r + 1 < h && col + 1 < w) primal.push_back(4 * p + 2);
        if (r + 1 < h && col > 0) primal.push_back(4 * p + 3);
        // T dual edges: 0 down, 1 right, 2 to the exterior (border pixels)
        if (r + 1 < h) dual.push_back(3 * p);
        if (col + 1 < w) dual.push_back(3 * p + 1);
        if (r == 0 || r == h - 1 || col == 0 || col == w - 1) dual.push_back(3 * p + 2);
      }
    }
    dual_nodes = vertices() ? (h - 1) * (w - 1) + 1 : h * w + 1;
  }

  // V: the squares on the two sides of primal edge (u, type); square (r, c) is r * (w - 1) + c
  void squares(int32_t u, int type, int32_t& a, int32_t& b) const { squares_of(height, width, u, type, a, b); }
  static void squares_of(int32_t height, int32_t width, int32_t u, int type, int32_t& a, int32_t& b) {
    const int32_t r = u / width, col = u - r * width, sw = width - 1, exterior = (height - 1) * sw;
    if (type == 0) {  // down edge: squares to its left and right
      a = col == 0 ? exterior : r * sw + col - 1;
      b = col == width - 1 ? exterior : r * sw + col;
    } else {  // right edge: squares above and below
      a = r == 0 ? exterior : (r - 1) * sw + col;
      b = r == height - 1 ? exterior : r * sw + col;
    }
  }
};

// One image's values on both graphs and its edges in sweep order.
template <typename T>
struct Filtered {
  const T* f = nullptr;
  int32_t height = 0, width = 0;
  std::vector<T> dual_value;        // dual node values, +inf for the exterior
  std::vector<int32_t> dual_pixel;  // pixel of each dual node (-1 for the exterior)
  std::vector<Edge<T>> edges;       // primal edges by increasing (value, index)
  std::vector<Edge<T>> dual_edges;  // T: dual edges by increasing (value, index); swept backwards
  // V: the dual edges that the dual sweep can merge on, in increasing order: all but the first
  // edge of each pixel that has no neighbour of its own value (build_vertices says why)
  std::vector<Slot> stream;
  // T: the edge index of each entry of `edges` and of `dual_edges`, kept by `build` so that the
  // comparison image's order can be derived from this one (`derive`; on V, primal_id gives it)
  std::vector<int32_t> edge_ids, dual_edge_ids;
  // V only (has_tree): the edges of the stream that the dual sweep did not merge on, in decreasing
  // order, and how many; the edges below `unswept` were not reached (the sweep ends at its last
  // merge). By Alexander duality the edges on which the dual sweep does not merge are exactly
  // those on which the primal sweep merges, so the dimension-0 sweep takes these (and makes the
  // joins of the edges left out of the stream first) instead of the whole list.
  std::vector<Edge<T>> tree;
  size_t tree_count = 0, unswept = 0;
  bool has_tree = false;
  std::vector<Item<typename Bits<T>::U>> items, buffer;
  std::vector<uint32_t> histogram;
  std::vector<int32_t> run_edges;  // the edges of a run of equal values (build_vertices)

  // Items (in id order) into increasing (key, id): the stable radix sort keeps ties in id order.
  void sort_items() {
    histogram.assign(size_t(digit_passes<typename Bits<T>::U>()) * kBuckets, 0);
    for (const auto& item : items) count_digits(item.key, histogram.data());
    radix_sort(items, buffer, histogram.data());
  }

  // Dual node values and pixels of image f.
  void build_nodes(const T* image, const Graphs& gr) {
    f = image;
    height = gr.height, width = gr.width;
    const int32_t h = gr.height, w = gr.width;
    dual_value.resize(gr.dual_nodes);
    dual_pixel.resize(gr.dual_nodes);
    if (gr.construction == 1) {
      int32_t s = 0;
      for (int32_t r = 0; r + 1 < h; ++r) {
        for (int32_t c = 0; c + 1 < w; ++c, ++s) {
          // largest value; ties to the largest flat index, so look at the corners from there
          const int32_t corners[4] = {(r + 1) * w + c + 1, (r + 1) * w + c, r * w + c + 1, r * w + c};
          int32_t best = corners[0];
          for (int k = 1; k < 4; ++k)
            if (f[corners[k]] > f[best]) best = corners[k];
          dual_value[s] = f[best];
          dual_pixel[s] = best;
        }
      }
    } else {
      for (int32_t p = 0; p < h * w; ++p) dual_value[p] = f[p], dual_pixel[p] = p;
    }
    dual_value.back() = std::numeric_limits<T>::infinity();
    dual_pixel.back() = -1;
  }

  // Primal edge `id` = (u, type): value = max of the two pixels, pixel = the larger, ties to v (> u).
  Edge<T> primal_edge(int32_t id, const Graphs& gr) const {
    const int K = gr.primal_k();
    const int32_t u = id / K, v = gr.other_end(u, id - u * K);
    const int32_t pixel = f[u] > f[v] ? u : v;
    return Edge<T>{u, v, pixel, f[pixel]};
  }
  // V: the dual edge of primal edge `e` (index id), between the squares on its two sides.
  Edge<T> square_edge(const Edge<T>& e, int32_t id, const Graphs& gr) const {
    int32_t a, b;
    gr.squares(e.x, id & 1, a, b);
    return Edge<T>{a, b, e.pixel, e.value};
  }
  // T dual edge `id`: value = min of the two pixels, pixel = the smaller, ties to the larger
  // index; an exterior edge (type 2) has its border pixel's value.
  Edge<T> pixel_edge(int32_t id, const Graphs& gr) const {
    const int32_t p = id / 3, type = id - 3 * p;
    const int32_t q = type == 2 ? gr.dual_nodes - 1 : type == 0 ? p + gr.width : p + 1;
    const int32_t pixel = type == 2 ? p : (f[p] < f[q] ? p : q);
    return Edge<T>{p, q, pixel, f[pixel]};
  }

  void build(const T* image, const Graphs& gr) {
    from = nullptr;
    if (gr.vertices()) return build_vertices(image, gr);
    build_nodes(image, gr);
    const int K = gr.primal_k();
    const int32_t m = static_cast<int32_t>(gr.primal.size());
    items.resize(m);
    for (int32_t i = 0; i < m; ++i) {
      const int32_t id = gr.primal[i], u = id / K, v = gr.other_end(u, id - u * K);
      items[i] = {ordered_bits(f[u] > f[v] ? f[u] : f[v]), id};
    }
    sort_items();
    edges.resize(m);
    edge_ids.resize(m);
    for (int32_t i = 0; i < m; ++i) {
      edge_ids[i] = items[i].id;
      edges[i] = primal_edge(items[i].id, gr);
    }
    has_tree = false;
    const int32_t md = static_cast<int32_t>(gr.dual.size());
    items.resize(md);
    for (int32_t i = 0; i < md; ++i) items[i] = {ordered_bits(pixel_edge(gr.dual[i], gr).value), gr.dual[i]};
    sort_items();
    dual_edges.resize(md);
    dual_edge_ids.resize(md);
    for (int32_t i = 0; i < md; ++i) {
      dual_edge_ids[i] = items[i].id;
      dual_edges[i] = pixel_edge(items[i].id, gr);
    }
  }

  // build() on V, from the pixels rather than the edges: an edge's value is the larger of its two
  // pixels', so the edges of value v are those from the pixels of value v to their lower
  // neighbours (and, between two pixels of value v, the edge once). With the pixels sorted by
  // (value, index), a pixel alone at its value gives its edges in index order by construction
  // (up, left, down, right); a run of equal values gives its edges, which are sorted. The result
  // is exactly the edge sort's, with half the keys to sort (300x300: 4.7 ms instead of 9.5).
  //
  // The dual sweep's stream leaves out the first edge (in index order: up, left, down, right) of
  // each pixel alone at its value: the primal sweep joins the pixel there (primal_sweep), so the
  // edge is in the primal spanning tree and, by Alexander duality, the dual sweep cannot merge on
  // it. Leaving out those edges (68,445 of 179,400 on the tubular 300x300 benchmark image) spares
  // the dual sweep their two finds and its least predictable branch.
  void build_vertices(const T* image, const Graphs& gr) {
    build_nodes(image, gr);
    const int32_t h = gr.height, w = gr.width, n = h * w, sw = w - 1, exterior = gr.dual_nodes - 1;
    items.resize(n);
    for (int32_t p = 0; p < n; ++p) items[p] = {ordered_bits(f[p]), p};
    sort_items();
    const size_t m = gr.primal.size();
    // room for the unconditional writes below: one slot past the last edge at most
    edges.resize(m + 1);
    stream.resize(m + 1);
    size_t k = 0, streamed = 0;
    // writes the edge (anchor u, other end y; the squares a and b on its sides) at slot k, and
    // keeps it when `keep`, in the stream too unless `first`: whether a neighbour is lower is a
    // coin flip, so no branch
    auto put = [&](bool keep, bool first, int32_t u, int32_t y, int32_t a, int32_t b, int32_t pixel, T value) {
      edges[k] = Edge<T>{u, y, pixel, value};
      stream[streamed] = Slot{a, b, static_cast<int32_t>(k)};
      streamed += keep & !first;
      k += keep;
    };
    std::vector<int32_t>& run = run_edges;
    for (int32_t i = 0; i < n;) {
      int32_t j = i + 1;
      while (j < n && items[j].key == items[i].key) ++j;
      if (j == i + 1) {
        if (i + 16 < n) {
          const int32_t q = items[i + 16].id;
          __builtin_prefetch(f + q - (q >= w ? w : 0));
          __builtin_prefetch(f + q);
          __builtin_prefetch(f + q + (q + w < n ? w : 0));
        }
        const int32_t p = items[i].id, r = p / w, c = p - r * w;
        const T v = f[p];
        // the squares of p's four edges: up (the down edge of p - w), left (the right edge of
        // p - 1), down, right; a square past the image is the exterior
        const int32_t above_left = r > 0 && c > 0 ? (r - 1) * sw + c - 1 : exterior;
        const int32_t above_right = r > 0 && c < w - 1 ? (r - 1) * sw + c : exterior;
        const int32_t below_left = r < h - 1 && c > 0 ? r * sw + c - 1 : exterior;
        const int32_t below_right = r < h - 1 && c < w - 1 ? r * sw + c : exterior;
        const int32_t up = r > 0 ? p - w : p, left = c > 0 ? p - 1 : p;  // p itself: never lower
        const int32_t down = r < h - 1 ? p + w : p, right = c < w - 1 ? p + 1 : p;
        const bool lower_up = f[up] < v, lower_left = f[left] < v, lower_down = f[down] < v;
        put(lower_up, lower_up, up, p, above_left, above_right, p, v);
        put(lower_left, !lower_up, left, p, above_left, below_left, p, v);
        put(lower_down, !(lower_up | lower_left), p, down, below_left, below_right, p, v);
        put(f[right] < v, !(lower_up | lower_left | lower_down), p, right, above_right, below_right, p, v);
        i = j;
        continue;
      }
      // a run of equal values: its edges (an edge inside the run from its anchor), by index
      run.clear();
      const T v = f[items[i].id];
      for (; i < j; ++i) {
        const int32_t p = items[i].id, r = p / w, c = p - r * w;
        if (r > 0 && f[p - w] < v) run.push_back(2 * (p - w));
        if (c > 0 && f[p - 1] < v) run.push_back(2 * (p - 1) + 1);
        if (r < h - 1 && f[p + w] <= v) run.push_back(2 * p);
        if (c < w - 1 && f[p + 1] <= v) run.push_back(2 * p + 1);
      }
      std::sort(run.begin(), run.end());
      for (const int32_t id : run) {
        edges[k] = primal_edge(id, gr);
        const Edge<T> d = square_edge(edges[k], id, gr);
        stream[streamed++] = Slot{d.x, d.y, static_cast<int32_t>(k)};
        ++k;
      }
    }
    edges.resize(m);
    stream.resize(streamed);
    tree.resize(m);
    has_tree = true;
  }

  // The comparison image c = min(f, g) from the prediction f (`source`, built), when the two
  // differ on few pixels, as they do when the target is sparse: c equals f off the target's
  // foreground (where g = 1 >= f) and is 0 on it. An edge with no changed pixel (changed[p] == 0)
  // has the same value and pixel in both images, so those edges keep their relative order; only
  // the edges touching a changed pixel are sorted (in edge-index order, then by the stable radix
  // sort) into `touched` (T: and `touched_dual`). Nothing else is copied: `visit_primal` and
  // `dual_up_to` merge the two orders when asked. `changed_pixels` is the number of changed
  // pixels; with too many, a full build is cheaper.
  void derive(const T* image, const Graphs& gr, const Filtered& source, const uint8_t* changed_pixel,
              int64_t changed_pixels) {
    const int64_t n = int64_t(gr.height) * gr.width;
    // measured at 300x300: with changed pixels scattered at random, merging gains nothing from
    // about 1 pixel in 8 on (a quarter of the edges touched); thin structures gain more
    if (changed_pixels * 8 > n) return build(image, gr);
    from = &source;
    changed = changed_pixel;
    vertices = gr.vertices();
    build_nodes(image, gr);
    const int32_t h = gr.height, w = gr.width;
    // a row with no changed pixel in it or in the next row anchors no touched edge
    std::vector<uint8_t>& row_touched = scratch;
    row_touched.assign(h, 0);
    for (int32_t r = 0; r < h; ++r)
      for (int32_t c = 0; c < w; ++c)
        if (changed[int64_t(r) * w + c]) {
          row_touched[r] = 1;
          if (r > 0) row_touched[r - 1] = 1;
          break;
        }
    // touched primal edges, generated in edge-index order (anchor pixel, then type) as build does
    const int K = gr.primal_k();
    items.clear();
    if (vertices) {
      // V, without branches on the coin flips: each candidate written, kept if it touches a change
      items.resize(gr.primal.size() + 2);
      size_t kept = 0;
      auto candidate = [&](int32_t p, int32_t q, int32_t id) {
        items[kept] = {ordered_bits(f[p] > f[q] ? f[p] : f[q]), id};
        kept += changed[p] | changed[q];
      };
      for (int32_t r = 0; r < h; ++r) {
        if (!row_touched[r]) continue;
        const int32_t start = r * w;
        for (int32_t p = start; p + 1 < start + w; ++p) {
          if (r + 1 < h) candidate(p, p + w, 2 * p);
          candidate(p, p + 1, 2 * p + 1);
        }
        if (r + 1 < h) candidate(start + w - 1, start + 2 * w - 1, 2 * (start + w - 1));
      }
      items.resize(kept);
    } else {  // T
      for (int32_t r = 0; r < h; ++r) {
        if (!row_touched[r]) continue;
        for (int32_t c = 0; c < w; ++c) {
          const int32_t p = r * w + c;
          const bool down = r + 1 < h, right = c + 1 < w;
          const bool valid[4] = {down, right, down && right, down && c > 0};
          for (int type = 0; type < K; ++type) {
            if (!valid[type]) continue;
            const int32_t q = gr.other_end(p, type);
            if (changed[p] | changed[q]) items.push_back({ordered_bits(f[p] > f[q] ? f[p] : f[q]), p * K + type});
          }
        }
      }
    }
    sort_items();
    touched.resize(items.size());
    touched_ids.resize(items.size());
    for (size_t j = 0; j < items.size(); ++j) {
      touched_ids[j] = items[j].id;
      touched[j] = primal_edge(items[j].id, gr);
    }
    if (vertices) {  // the dual edges are the primal edges, between squares
      touched_dual.resize(items.size());
      for (size_t j = 0; j < items.size(); ++j) touched_dual[j] = square_edge(touched[j], touched_ids[j], gr);
      return;
    }
    // T dual edges (types 0 down, 1 right, 2 exterior) touching a changed pixel
    items.clear();
    for (int32_t r = 0; r < h; ++r) {
      if (!row_touched[r]) continue;
      for (int32_t c = 0; c < w; ++c) {
        const int32_t p = r * w + c;
        if (r + 1 < h && (changed[p] | changed[p + w])) items.push_back({ordered_bits(pixel_edge(3 * p, gr).value), 3 * p});
        if (c + 1 < w && (changed[p] | changed[p + 1])) items.push_back({ordered_bits(pixel_edge(3 * p + 1, gr).value), 3 * p + 1});
        if ((r == 0 || r == h - 1 || c == 0 || c == w - 1) && changed[p])
          items.push_back({ordered_bits(f[p]), 3 * p + 2});
      }
    }
    sort_items();
    touched_dual.resize(items.size());
    touched_dual_ids.resize(items.size());
    for (size_t j = 0; j < items.size(); ++j) {
      touched_dual_ids[j] = items[j].id;
      touched_dual[j] = pixel_edge(items[j].id, gr);
    }
  }

  // V: the index of edges[i] (its anchor and type, 1 if it goes right) and its dual edge
  int32_t primal_id(size_t i) const { return 2 * edges[i].x + goes_right(edges[i]); }
  Edge<T> dual_edge(size_t i) const {
    int32_t a, b;
    Graphs::squares_of(height, width, edges[i].x, goes_right(edges[i]), a, b);
    return Edge<T>{a, b, edges[i].pixel, edges[i].value};
  }

  // fn(edge) for the primal edges in increasing (value, index) until fn returns false.
  template <typename Fn>
  void visit_primal(Fn fn) const {
    if (!from) {
      for (const Edge<T>& e : edges)
        if (!fn(e)) return;
      return;
    }
    auto id = [&](size_t i) { return vertices ? from->primal_id(i) : from->edge_ids[i]; };
    merged(from->edges, [&](size_t i) -> const Edge<T>& { return from->edges[i]; }, id, touched, touched_ids, -1,
           std::numeric_limits<U>::max(), fn);
  }

  // The dual edges of value <= `limit` in increasing (value, index): a prefix of dual_edges, or
  // (derived) the merge, written to `out`.
  std::pair<const Edge<T>*, size_t> dual_up_to(T limit, std::vector<Edge<T>>& out) const {
    auto below = [&](const std::vector<Edge<T>>& list) {
      return size_t(std::upper_bound(list.begin(), list.end(), limit, [](T v, const Edge<T>& e) { return v < e.value; }) -
                    list.begin());
    };
    out.clear();
    if (!from && !has_tree) return {dual_edges.data(), below(dual_edges)};
    if (!from) {  // V, built: the prefix, with the squares
      const size_t count = below(edges);
      for (size_t i = 0; i < count; ++i) out.push_back(dual_edge(i));
      return {out.data(), out.size()};
    }
    auto keep = [&](const Edge<T>& e) { return out.push_back(e), true; };
    if (vertices)  // V: the changed check and the order come from the primal edges at the same place
      merged(from->edges, [&](size_t i) { return from->dual_edge(i); }, [&](size_t i) { return from->primal_id(i); },
             touched_dual, touched_ids, -1, ordered_bits(limit), keep);
    else
      merged(from->dual_edges, [&](size_t i) { return from->dual_edges[i]; }, [&](size_t i) { return from->dual_edge_ids[i]; },
             touched_dual, touched_dual_ids, static_cast<int32_t>(dual_value.size()) - 1, ordered_bits(limit), keep);
    return {out.data(), out.size()};
  }

 private:
  using U = typename Bits<T>::U;
  // derive(): the image this one's order is derived from (nullptr: built), the changed pixels,
  // and the edges that touch one, in this image's order, with their indices
  const Filtered* from = nullptr;
  const uint8_t* changed = nullptr;
  bool vertices = false;
  std::vector<Edge<T>> touched, touched_dual;
  std::vector<int32_t> touched_ids, touched_dual_ids;  // (V: the dual edges' are touched_ids)
  std::vector<uint8_t> scratch;

  // V: a primal edge goes right (type 1) or down (type 0); on a one-column image both ends of a
  // down edge are one index apart too
  bool goes_right(const Edge<T>& e) const { return e.y == e.x + 1 && width > 1; }

  // fn(edge) in increasing (value, index) up to key `limit`, until fn returns false, over: the
  // edges emit(i) of from's order whose `check[i]` touches no changed pixel (their indices ids(i)),
  // merged with the sorted `extra` (indices extra_ids). A node equal to `outside` (the T exterior)
  // has no pixel.
  template <typename Emit, typename Id, typename Fn>
  void merged(const std::vector<Edge<T>>& check, Emit emit, Id ids,
              const std::vector<Edge<T>>& extra, const std::vector<int32_t>& extra_ids, int32_t outside, U limit,
              Fn fn) const {
    size_t j = 0;
    const size_t t = extra.size();
    for (size_t i = 0; i < check.size(); ++i) {
      const Edge<T>& e = check[i];
      if (changed[e.x] | (e.y != outside && changed[e.y])) continue;
      const U key = ordered_bits(e.value);
      if (key > limit) break;
      for (; j < t; ++j) {
        const U extra_key = ordered_bits(extra[j].value);
        if (extra_key > key || (extra_key == key && extra_ids[j] > ids(i))) break;
        if (!fn(extra[j])) return;
      }
      if (!fn(emit(i))) return;
    }
    for (; j < t && ordered_bits(extra[j].value) <= limit; ++j)
      if (!fn(extra[j])) return;
  }
};

// Union-find (path halving) whose roots are their component's oldest node under a first age and
// which remembers the oldest node under up to two more ages: the union-finds of image persistence
// share one partition and differ only in which node of a component is its oldest, so one
// structure serves them all. `parent` is all that finds touch: kept alone, 4 bytes a node, it
// stays in L2 cache up to about 300x300 images (the sweeps wait on memory, not on arithmetic).
struct Components {
  std::vector<int32_t> parent, oldest[3];  // oldest[0] unused: a root is its own oldest

  // n singletons; `ages` ages in all (the first plus up to two remembered ones)
  void reset(int32_t n, int ages) {
    parent.resize(n);
    for (int32_t i = 0; i < n; ++i) parent[i] = i;
    for (int k = 1; k < ages; ++k) oldest[k] = parent;
  }
  // Asks the memory for the parents of an edge's two nodes, which a find will read soon.
  template <typename E>
  void prefetch(const E& e) const {
    __builtin_prefetch(&parent[e.x]);
    __builtin_prefetch(&parent[e.y]);
  }
  int32_t find(int32_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  }
  // Links roots x and y, the younger under the first age below the elder; returns the younger.
  template <typename Older>
  int32_t link(int32_t x, int32_t y, Older older) {
    if (older(x, y)) std::swap(x, y);
    parent[x] = y;
    return x;
  }
  // After linking roots x and y into root r: the younger of their oldest nodes under age k >= 1
  // (it dies here); the elder becomes r's.
  template <typename Older>
  int32_t younger(int k, int32_t x, int32_t y, int32_t r, Older older) {
    const int32_t ox = oldest[k][x], oy = oldest[k][y];
    if (older(ox, oy)) {
      oldest[k][r] = ox;
      return oy;
    }
    oldest[k][r] = oy;
    return ox;
  }
};

// The parts into which the dual edges of image `im` with value above `threshold` join the dual
// nodes. On return each node's parent in `uf` is its part's oldest node under `older`, which is
// thereby the part's root, and the number of parts is returned. Kruskal's partition after those
// edges, and each part's oldest node, do not depend on the order of the edges, so the grid of
// dual nodes (V: the squares, T: the pixels; and the exterior) is scanned row by row instead: a
// node joins the run of its left neighbour by one write (it is still alone), and finds are spent
// only on the links to the row above and to the exterior, once per pair of runs that touch (a
// link that the previous column made between the same two runs is skipped). `label` and `flags`
// are scratch.
template <typename T, typename Older>
int32_t parts_above(const Filtered<T>& im, const Graphs& gr, T threshold, Components& uf, Older older,
                    std::vector<int32_t>& label, std::vector<uint8_t>& flags) {
  const T* f = im.f;
  const int32_t h = gr.height, w = gr.width, nodes = gr.dual_nodes, exterior = nodes - 1;
  const bool squares = gr.vertices();
  const int32_t rows = squares ? h - 1 : h, cols = squares ? w - 1 : w;
  // V: the dual edge between two squares is the primal edge they share, valued by its larger
  // pixel; T: the edge between two pixels is valued by the smaller
  auto above = [&](int32_t p, int32_t q) { return (squares ? std::max(f[p], f[q]) : std::min(f[p], f[q])) > threshold; };
  auto outward = [&](int32_t r, int32_t c) {  // a border node's edges to the exterior
    if (!squares) return f[r * w + c] > threshold;
    return (c == 0 && above(r * w, (r + 1) * w)) || (c == cols - 1 && above(r * w + w - 1, (r + 1) * w + w - 1)) ||
           (r == 0 && above(c, c + 1)) || (r == rows - 1 && above((h - 1) * w + c, (h - 1) * w + c + 1));
  };
  std::vector<int32_t>& parent = uf.parent;
  parent.resize(nodes);
  parent[exterior] = exterior;
  // links two roots under the smaller index: every node's parent is then at most itself
  auto unite = [&](int32_t a, int32_t b) {
    a = uf.find(a), b = uf.find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  };
  // per row: whether node c joins node c - 1 (joined), and the node above it (up); `joined` of
  // the row above as well. up[-1] is 0.
  flags.assign(3 * size_t(cols + 1), 0);
  uint8_t *joined = flags.data(), *joined_above = joined + cols + 1, *up = joined_above + cols + 2;
  for (int32_t r = 0; r < rows; ++r) {
    std::swap(joined, joined_above);
    for (int32_t c = 1; c < cols; ++c)  // between (r, c - 1) and (r, c)
      joined[c] = squares ? above(r * w + c, (r + 1) * w + c) : above(r * w + c - 1, r * w + c);
    if (r > 0)
      for (int32_t c = 0; c < cols; ++c)  // between (r - 1, c) and (r, c)
        up[c] = squares ? above(r * w + c, r * w + c + 1) : above((r - 1) * w + c, r * w + c);
    int32_t head = r * cols;
    bool previous_out = false;
    for (int32_t c = 0; c < cols; ++c) {
      const int32_t node = r * cols + c;
      head = joined[c] ? head : node;
      parent[node] = head;
      // the same two runs as in the previous column: already one part
      if (up[c] & ~(up[c - 1] & joined[c] & joined_above[c])) unite(node - cols, node);
      const bool out = (r == 0 || r == rows - 1 || c == 0 || c == cols - 1) && outward(r, c);
      if (out && !(previous_out && joined[c])) unite(node, exterior);
      previous_out = out;
    }
  }
  // each node straight to its root, its part's smallest node: a parent is smaller than its child,
  // so it has already been sent to the root when the child is reached; each root's oldest node
  // (the oldest of the current root's part is kept in a register: neighbours share their root)
  label.resize(nodes);
  int32_t parts = 0, current = -1, oldest = -1;
  for (int32_t v = 0; v < nodes; ++v) {
    const int32_t root = parent[parent[v]];
    parent[v] = root;
    if (root != current) {
      if (current >= 0) label[current] = oldest;
      current = root;
      if (root == v) {  // a new part
        oldest = v, ++parts;
        continue;
      }
      oldest = label[root];
    }
    if (older(v, oldest)) oldest = v;
  }
  label[current] = oldest;
  for (int32_t v = 0; v < nodes; ++v) parent[v] = label[parent[v]];
  return parts;
}

// Primal age: smaller (value, index) is older.
template <typename T>
struct PrimalOlder {
  const T* value;
  bool operator()(int32_t x, int32_t y) const { return value[x] < value[y] || (value[x] == value[y] && x < y); }
};
// Dual age: larger (value, index) is older; the exterior (+inf, last index) is the oldest. A
// node's value is value[stride * node + offset] (stride 2: two images' values side by side).
template <typename T, int stride = 1, int offset = 0>
struct DualOlder {
  const T* value;
  bool operator()(int32_t x, int32_t y) const {
    const T a = value[stride * x + offset], b = value[stride * y + offset];
    return a > b || (a == b && x > y);
  }
};

// What a call needs of the target, computed once per target (jaxtopo caches it by content):
// its values, its pairs, the pair born at each pixel (dimension 0), and its dual Kruskal sweep as
// parts and a list of merges, which a call replays to age the merged components by the
// comparison image (the partition does not depend on the prediction, only which node of a
// component is oldest).
template <typename T>
struct PreparedTarget {
  struct Merge {
    int32_t x, y;    // the two roots that merged
    int32_t young;   // the one that went below the other
    int32_t pair;    // index of the target's dimension-1 pair born there, or -1
  };
  int32_t height = 0, width = 0, construction = 0;
  std::vector<T> values;
  std::vector<int64_t> pairs[2];  // (birth, death) pixels, flat, per dimension
  std::vector<int32_t> born0;     // per pixel: the dimension-0 pair born there, or -1
  T loop_birth_max = 0;  // t: the largest value at which a dimension-1 pair is born
  // The parts into which the dual edges above t join the dual nodes: each node's part, how many,
  // and each part's root in the target's dual sweep (its oldest node under g). The sweep merges
  // on every edge above t before any other, and what those merges leave is this partition.
  std::vector<int32_t> loop_part, part_root;
  int32_t loop_parts = 0;
  // the merges of the target's dual sweep at edges of value <= t, in sweep order: every loop of
  // the target is born at one of them (its pair is set); on a binary target, few
  std::vector<Merge> dual_merges;

  size_t nbytes() const {
    return values.size() * sizeof(T) + (pairs[0].size() + pairs[1].size()) * sizeof(int64_t) +
           (born0.size() + loop_part.size() + part_root.size()) * sizeof(int32_t) + dual_merges.size() * sizeof(Merge);
  }
};

template <typename T>
struct Workspace {
  Graphs graphs;
  Filtered<T> image, comparison;
  std::vector<T> comparison_values;
  std::vector<uint8_t> changed;  // per pixel: the comparison image differs from the prediction
  std::vector<uint8_t> scan_flags;  // parts_above's scratch
  std::vector<int32_t> scan_labels;
  Components components;
  std::vector<int32_t> key_pred, key_target, oldest_c, part_oldest;
  std::vector<T> both_dual_values;  // the prediction's and the comparison's, side by side
  int64_t lowered_to_t = 0;          // pixels where c <= t < g, t the target's largest loop birth
  std::vector<Edge<T>> comparison_edges;  // the comparison's dual edges that its sweep needs, when merged
};

// Not inlined: in the shared library a thread_local's address comes from __tls_get_addr, and once
// inlined GCC recomputes it inside the sweeps instead of keeping the reference (measured: the
// installed engine took 24 ms per 300x300 call where the same code in an executable took 18).
template <typename T>
__attribute__((noinline)) Workspace<T>& workspace() {
  thread_local Workspace<T> space;
  return space;
}

// Dual Kruskal over ends[count - 1] down to ends[0] on `uf` as it stands, until no merge is left
// or (with `pending`) *pending is 0: `on_merge(e, x, y, young)` sees every merge, and where an edge
// does not merge, its primal edge goes to tree[0], tree[1], ... when `tree` is given.
struct DualRun {
  int32_t merges_left;
  size_t unswept;  // ends[0 .. unswept) were not reached
  size_t kept;     // edges written to tree
};
// The nodes of edge i are ends[i] (a record with x and y); its pixel and value are edges[i]'s and
// its primal edge primal[i], or, when ends[i] is a Slot (V: the stream), edges[s] and primal[s]
// for s = ends[i].slot.
template <typename T, typename E, typename Older, typename OnMerge>
DualRun dual_kruskal(const E* ends, const Edge<T>* edges, size_t count, Components& uf, Older older,
                     int32_t merges_left, const Edge<T>* primal, Edge<T>* tree, OnMerge on_merge,
                     const int32_t* pending = nullptr) {
  size_t i = count, kept = 0;
  while (i > 0 && merges_left > 0 && (!pending || *pending > 0)) {
    --i;
    if (i >= kPrefetch) uf.prefetch(ends[i - kPrefetch]);
    const int32_t x = uf.find(ends[i].x), y = uf.find(ends[i].y);
    size_t at = i;
    if constexpr (std::is_same_v<E, Slot>) at = static_cast<size_t>(ends[i].slot);
    if (x == y) {
      if (tree) tree[kept++] = primal[at];
      continue;
    }
    --merges_left;
    on_merge(edges[at], x, y, uf.link(x, y, older));
  }
  return {merges_left, i, kept};
}

// Dimension 1 of one built input: its dual Kruskal sweep (keeping, on V, the edges dimension 0
// merges on), with `older` its dual age. `on_merge(e, x, y, young)` sees every merge.
template <typename T, typename Older, typename OnMerge>
void dual_sweep(Filtered<T>& im, Components& uf, int32_t nodes, int ages, Older older, OnMerge on_merge) {
  uf.reset(nodes, ages);
  const DualRun run = im.has_tree  // V: the stream of squares, swept with their edges' pixels and values
      ? dual_kruskal(im.stream.data(), im.edges.data(), im.stream.size(), uf, older, nodes - 1, im.edges.data(),
                     im.tree.data(), on_merge)
      : dual_kruskal(im.dual_edges.data(), im.dual_edges.data(), im.dual_edges.size(), uf, older, nodes - 1,
                     im.edges.data(), static_cast<Edge<T>*>(nullptr), on_merge);
  im.tree_count = run.kept;
  im.unswept = run.unswept;
  // V: the edges below the slot of the last stream entry swept were not reached (those left out of
  // the stream are joins that the primal sweep makes whether reached or not); none was, if none
  if (im.has_tree)
    im.unswept = run.unswept == im.stream.size() ? im.edges.size()
                 : run.unswept > 0               ? static_cast<size_t>(im.stream[run.unswept].slot)
                                                 : 0;
}

// V: each pixel p with a lower 4-neighbour and none of its own value joins under the first lower
// one in index order of their edges (up, left, down, right): parent[p] is set to it, and to p for
// the other pixels. Returns the number of joins. Branch-free, row by row (a missing neighbour
// reads p's own value: neither lower nor a tie).
template <typename T>
int32_t join_first_edges(const T* f, int32_t h, int32_t w, int32_t* parent) {
  auto step = [w](T v, T up, T left, T down, T right, int32_t has_up, int32_t has_left, int32_t has_down, int32_t has_right) {
    const int32_t tie = ((up == v) & has_up) | ((left == v) & has_left) | ((down == v) & has_down) | ((right == v) & has_right);
    const int32_t lu = up < v, ll = left < v, ld = down < v, lr = right < v;
    const int32_t to = lu * -w + (1 - lu) * (-ll + (1 - ll) * (ld * w + (1 - ld) * lr));
    return to * (1 - tie);
  };
  int32_t joins = 0;
  for (int32_t r = 0; r < h; ++r) {
    const T* row = f + size_t(r) * w;
    const T* above = r > 0 ? row - w : row;
    const T* below = r < h - 1 ? row + w : row;
    int32_t* out = parent + size_t(r) * w;
    const int32_t has_up = r > 0, has_down = r < h - 1, start = r * w;
    if (w == 1) {
      const int32_t to = step(row[0], above[0], row[0], below[0], row[0], has_up, 0, has_down, 0);
      out[0] = start + to, joins += to != 0;
      continue;
    }
    int32_t to = step(row[0], above[0], row[0], below[0], row[1], has_up, 0, has_down, 1);
    out[0] = start + to, joins += to != 0;
    for (int32_t c = 1; c < w - 1; ++c) {
      to = step(row[c], above[c], row[c - 1], below[c], row[c + 1], has_up, 1, has_down, 1);
      out[c] = start + c + to;
      joins += to != 0;
    }
    to = step(row[w - 1], above[w - 1], row[w - 2], below[w - 1], row[w - 1], has_up, 1, has_down, 0);
    out[w - 1] = start + w - 1 + to, joins += to != 0;
  }
  return joins;
}

// Dimension 0 of one built input: its primal Kruskal sweep, on V over the edges the dual sweep
// did not merge on. `on_merge(e, x, y, young)` sees every merge at which a component older than
// the edge dies; the others, where a pixel joins at its own value (no pair), are done here:
//
// An edge's value is its larger pixel's, so the first edge of each value v (in increasing order)
// finds its pixel p alone: every edge that touches p has value v or more, and this is the first
// of value v. p is also the younger side: the other end q is at most v, and its component's root
// is older than q's value allows, or is q itself with the smaller index when q is at v too (an
// edge's pixel is its larger end on a tie). So p joins with one write, under q itself (only
// roots' ages are compared, and p is never a root again), and dies at its own value. All merges
// but one per local minimum are of this kind, so most finds of the sweep are not needed.
//
// On V the same holds for the first edge of every pixel with no neighbour of its own value (its
// first edge in index order to a lower neighbour: edges of its value that come earlier do not
// touch it), and those joins are all made before the sweep: a find from a pixel climbs only to
// lower pixels, whose joins came earlier in the sweep, so no find returns anything else. The dual
// sweep left the first edges of the pixels alone at their value out of its stream, so the tree
// holds none of them (it may hold the first edges of other pixels joined here: their finds then
// meet one root, and nothing happens).
template <typename T, typename OnMerge>
void primal_sweep(const Filtered<T>& im, Components& uf, int32_t n, OnMerge on_merge) {
  const PrimalOlder<T> older{im.f};
  int32_t merges_left = n - 1;  // the grid is connected: Kruskal is done after n - 1 merges
  auto merge = [&](const Edge<T>& e) {
    const int32_t x = uf.find(e.x), y = uf.find(e.y);
    if (x == y) return;
    --merges_left;
    on_merge(e, x, y, uf.link(x, y, older));
  };
  if (!im.has_tree) {
    uf.reset(n, 1);
    bool first = true;
    T previous = 0;
    for (size_t i = 0; i < im.edges.size() && merges_left > 0; ++i) {
      if (i + kPrefetch < im.edges.size()) uf.prefetch(im.edges[i + kPrefetch]);
      const Edge<T>& e = im.edges[i];
      if (first || e.value != previous) {  // the first edge of its value: its pixel joins
        first = false;
        previous = e.value;
        uf.parent[e.pixel] = e.pixel == e.x ? e.y : e.x;
        --merges_left;
        continue;
      }
      merge(e);
    }
    return;
  }
  uf.parent.resize(n);  // every parent is set by the joins: p itself, or the pixel it joins
  merges_left -= join_first_edges(im.f, im.height, im.width, uf.parent.data());
  // the unreached edges (the lowest), then the kept ones in increasing order
  for (size_t i = 0; i < im.unswept && merges_left > 0; ++i) {
    if (i + kPrefetch < im.unswept) uf.prefetch(im.edges[i + kPrefetch]);
    merge(im.edges[i]);
  }
  for (size_t k = im.tree_count; k-- > 0 && merges_left > 0;) {
    if (k >= kPrefetch) uf.prefetch(im.tree[k - kPrefetch]);
    merge(im.tree[k]);
  }
}

template <typename T>
void prepare_target(const T* g, int32_t height, int32_t width, int32_t construction, PreparedTarget<T>& out) {
  Workspace<T>& ws = workspace<T>();
  ws.graphs.build(height, width, construction);
  const int32_t n = height * width, nodes = ws.graphs.dual_nodes;
  out.height = height, out.width = width, out.construction = construction;
  out.values.assign(g, g + n);
  Filtered<T>& im = ws.image;
  im.build(out.values.data(), ws.graphs);
  std::vector<typename PreparedTarget<T>::Merge> merges;
  std::vector<T> merge_value;
  out.pairs[1].clear();
  const DualOlder<T> older{im.dual_value.data()};
  dual_sweep(im, ws.components, nodes, 1, older, [&](const Edge<T>& e, int32_t x, int32_t y, int32_t young) {
    int32_t pair = -1;
    if (e.value != im.dual_value[young]) {
      pair = static_cast<int32_t>(out.pairs[1].size() / 2);
      out.pairs[1].push_back(e.pixel);
      out.pairs[1].push_back(im.dual_pixel[young]);
    }
    merges.push_back({x, y, young, pair});
    merge_value.push_back(e.value);
  });
  out.loop_birth_max = -std::numeric_limits<T>::infinity();
  for (size_t k = 0; k < out.pairs[1].size(); k += 2) out.loop_birth_max = std::max(out.loop_birth_max, g[out.pairs[1][k]]);
  // the sweep runs in decreasing value: the merges at or below t are a suffix
  size_t first = 0;
  while (first < merges.size() && merge_value[first] > out.loop_birth_max) ++first;
  out.dual_merges.assign(merges.begin() + first, merges.end());
  Components& uf = ws.components;
  std::vector<int32_t> label;
  parts_above(im, ws.graphs, out.loop_birth_max, uf, older, label, ws.scan_flags);
  label.assign(nodes, -1);  // now: each root's part
  out.loop_part.resize(nodes);
  out.part_root.clear();
  out.loop_parts = 0;
  for (int32_t v = 0; v < nodes; ++v) {
    const int32_t root = uf.parent[v];
    if (label[root] < 0) label[root] = out.loop_parts++, out.part_root.push_back(root);
    out.loop_part[v] = label[root];
  }
  out.born0.assign(n, -1);
  out.pairs[0].clear();
  primal_sweep(im, ws.components, n, [&](const Edge<T>& e, int32_t, int32_t, int32_t young) {
    if (im.f[young] != e.value) {
      out.born0[young] = static_cast<int32_t>(out.pairs[0].size() / 2);
      out.pairs[0].push_back(young);
      out.pairs[0].push_back(e.pixel);
    }
  });
}

struct Output {
  int64_t* pred;     // (birth, death) pixel pairs of the prediction, flat
  int64_t* matched;  // (prediction pair, target pair) rows
  int64_t pred_count = 0, matched_count = 0;

  int32_t add_pair(int32_t birth, int32_t death) {
    pred[2 * pred_count] = birth;
    pred[2 * pred_count + 1] = death;
    return static_cast<int32_t>(pred_count++);
  }
  void add_match(int64_t i, int64_t j) {
    matched[2 * matched_count] = i;
    matched[2 * matched_count + 1] = j;
    ++matched_count;
  }
};

template <typename T>
void dimension1(Workspace<T>& ws, const PreparedTarget<T>& target, Output& out) {
  const int32_t nodes = ws.graphs.dual_nodes;
  Components& uf = ws.components;
  Filtered<T>& im = ws.image;
  Filtered<T>& comp = ws.comparison;
  const DualOlder<T> older_c{comp.dual_value.data()};
  // A pair's death is first written as the node that dies and turned into its pixel after the
  // sweep: read during the sweep, dual_pixel (not otherwise touched since it was built) missed
  // the caches and stalled it, about 0.7 ms at 300x300 for 10k pairs.
  auto death_pixels = [&] {
    for (int64_t k = 0; k < out.pred_count; ++k) out.pred[2 * k + 1] = im.dual_pixel[out.pred[2 * k + 1]];
  };
  // the prediction's pairs, keyed (when the target has pairs to match) by the node that dies in
  // the comparison-aged components
  if (target.pairs[1].empty()) {  // nothing to match
    dual_sweep(im, uf, nodes, 1, DualOlder<T>{im.dual_value.data()}, [&](const Edge<T>& e, int32_t, int32_t, int32_t young) {
      if (e.value != im.dual_value[young]) out.add_pair(e.pixel, young);
    });
    return death_pixels();
  }
  // With c's ages as well: a component's oldest node under c is its root (its oldest under f)
  // wherever the root has the same value in both (c <= f everywhere, and ties go to the larger
  // index in both), so the remembered one (oldest[1]) is read and kept only for roots that c
  // lowered, which are few. The two values of a node sit side by side, so that the sweep finds
  // both in the cache line it reads for f's.
  std::vector<T>& both = ws.both_dual_values;
  both.resize(2 * size_t(nodes));
  for (int32_t v = 0; v < nodes; ++v) both[2 * v] = im.dual_value[v], both[2 * v + 1] = comp.dual_value[v];
  const T* fc = both.data();
  const DualOlder<T, 2, 0> older_f{fc};
  const DualOlder<T, 2, 1> older_c_paired{fc};
  std::vector<int32_t>& oldest_c = uf.oldest[1];
  ws.key_pred.assign(nodes, -1);
  dual_sweep(im, uf, nodes, 2, older_f, [&](const Edge<T>& e, int32_t x, int32_t y, int32_t young) {
    const int32_t pair = e.value != fc[2 * young] ? out.add_pair(e.pixel, young) : -1;
    const int32_t root = young == x ? y : x;
    const int32_t cx = fc[2 * x + 1] == fc[2 * x] ? x : oldest_c[x], cy = fc[2 * y + 1] == fc[2 * y] ? y : oldest_c[y];
    const bool x_older = older_c_paired(cx, cy);
    if (fc[2 * root + 1] != fc[2 * root]) oldest_c[root] = x_older ? cx : cy;
    if (pair >= 0) ws.key_pred[x_older ? cy : cx] = pair;
  });
  death_pixels();
  if (out.pred_count == 0) return;  // nothing can match
  // The target's: its sweep replayed with comparison ages. Its merges at edges above t leave the
  // prepared parts, and a part's oldest node under c does not depend on the order in which they
  // merged, so one pass over the nodes finds it; only the merges at or below t are replayed, from
  // the parts' roots.
  const int32_t* part = target.loop_part.data();
  std::vector<int32_t>& part_oldest = ws.part_oldest;
  part_oldest.assign(target.loop_parts, -1);
  for (int32_t v = 0; v < nodes; ++v) {
    int32_t& o = part_oldest[part[v]];
    if (o < 0 || older_c(v, o)) o = v;
  }
  std::vector<int32_t>& oldest = ws.oldest_c;
  oldest.resize(nodes);
  for (int32_t k = 0; k < target.loop_parts; ++k) oldest[target.part_root[k]] = part_oldest[k];
  // the comparison: a pair of non-zero persistence matches the two pairs keyed by its node; a
  // node dies once (here too, so it is keyed once), and the sweep is done when every node keyed
  // by both images has died
  int32_t pending = 0;
  ws.key_target.assign(nodes, -1);
  for (const auto& m : target.dual_merges) {
    const int32_t root = m.young == m.x ? m.y : m.x, ox = oldest[m.x], oy = oldest[m.y];
    const bool x_older = older_c(ox, oy);
    oldest[root] = x_older ? ox : oy;
    if (m.pair < 0) continue;
    const int32_t keyed = x_older ? oy : ox;
    ws.key_target[keyed] = m.pair;
    pending += ws.key_pred[keyed] >= 0;
  }
  if (pending == 0) return;
  auto on_merge = [&](const Edge<T>& e, int32_t, int32_t, int32_t young) {
    if (ws.key_pred[young] < 0 || ws.key_target[young] < 0) return;
    --pending;
    if (e.value != comp.dual_value[young]) out.add_match(ws.key_pred[young], ws.key_target[young]);
  };
  // Only the deaths of those nodes matter, and none dies at an edge of value above t, the largest
  // value at which a target loop is born (on a binary target: 0, so the edges above t are all but
  // those inside the foreground). Why: c <= g, so such an edge is above t in g as well, and every
  // g-edge above t is swept before any target loop is born; each part of the partition by the
  // edges above t therefore lies inside one of the two components that a target merge joins,
  // and the node keyed there is the oldest of its component, so of its part. The edges above t
  // are therefore not swept: only their parts and each part's oldest node are found, and the
  // sweep runs over the rest.
  int32_t merges_left = nodes - 1;
  if (ws.lowered_to_t == 0) {
    // Where no pixel has g above t and c at or below it, an edge is above t in c exactly when it
    // is in g: the partition is the target's (prepared), its parts' oldest nodes under c are the
    // replay's.
    uf.parent.resize(nodes);
    for (int32_t v = 0; v < nodes; ++v) uf.parent[v] = part_oldest[part[v]];
    merges_left = target.loop_parts - 1;  // what joins the parts
  } else {
    merges_left = parts_above(comp, ws.graphs, target.loop_birth_max, uf, older_c, ws.scan_labels, ws.scan_flags) - 1;
  }
  const auto edges = comp.dual_up_to(target.loop_birth_max, ws.comparison_edges);
  dual_kruskal<T>(edges.first, edges.first, edges.second, uf, older_c, merges_left, nullptr, nullptr, on_merge, &pending);
}

template <typename T>
void dimension0(Workspace<T>& ws, const PreparedTarget<T>& target, Output& out) {
  const int32_t n = ws.graphs.height * ws.graphs.width;
  Components& uf = ws.components;
  const Filtered<T>& im = ws.image;
  ws.key_pred.assign(n, -1);
  primal_sweep(im, uf, n, [&](const Edge<T>& e, int32_t, int32_t, int32_t young) {
    if (im.f[young] != e.value) ws.key_pred[young] = out.add_pair(young, e.pixel);
  });
  if (out.pred_count == 0 || target.pairs[0].empty()) return;  // nothing to match
  // image persistence: Kruskal in the comparison order; components aged by c, f and g
  const Filtered<T>& comp = ws.comparison;
  const PrimalOlder<T> older_f{im.f}, older_g{target.values.data()};
  // a target pair can match only where its birth pixel dies under g's ages, which happens once:
  // the sweep is done when all have died
  int32_t pending = static_cast<int32_t>(target.pairs[0].size() / 2);
  uf.reset(n, 3);
  const PrimalOlder<T> older_c{comp.f};
  int32_t merges_left = n - 1;
  comp.visit_primal([&](const Edge<T>& e) {
    if (merges_left == 0 || pending == 0) return false;
    const int32_t x = uf.find(e.x), y = uf.find(e.y);
    if (x == y) return true;
    --merges_left;
    const int32_t young_c = uf.link(x, y, older_c), r = young_c == x ? y : x;
    const int32_t young_f = uf.younger(1, x, y, r, older_f);
    const int32_t young_g = uf.younger(2, x, y, r, older_g);
    if (target.born0[young_g] < 0) return true;
    --pending;
    if (comp.f[young_c] != e.value && ws.key_pred[young_f] >= 0)
      out.add_match(ws.key_pred[young_f], target.born0[young_g]);
    return true;
  });
}

// The comparison image c = min(f, g) and its edges in order, derived from the prediction's.
template <typename T>
void comparison(const T* f, const PreparedTarget<T>& target, Workspace<T>& ws) {
  const int32_t n = target.height * target.width;
  ws.comparison_values.resize(n);
  ws.changed.resize(n);
  const T* g = target.values.data();
  const T t = target.loop_birth_max;
  int64_t changed = 0, lowered_to_t = 0;
  for (int32_t p = 0; p < n; ++p) {
    ws.comparison_values[p] = f[p] < g[p] ? f[p] : g[p];
    const bool lower = g[p] < f[p];  // else c[p] == f[p] (as values; -0 == +0)
    ws.changed[p] = lower;
    changed += lower;
    lowered_to_t += (g[p] > t) & (f[p] <= t);  // c[p] <= t < g[p]
  }
  ws.lowered_to_t = lowered_to_t;
  ws.comparison.derive(ws.comparison_values.data(), ws.graphs, ws.image, ws.changed.data(), changed);
}

// Buffers: prediction pairs and matches of dimension 0, then of dimension 1, each 2 * (H * W + 1)
// int64; counts receives their row counts in the same order.
template <typename T>
int64_t match_prepared(const T* f, const PreparedTarget<T>& target, int64_t** buffers, int64_t* counts) {
  const int32_t n = target.height * target.width;
  for (int32_t p = 0; p < n; ++p)
    if (!std::isfinite(f[p])) return -2;
  Workspace<T>& ws = workspace<T>();
  ws.graphs.build(target.height, target.width, target.construction);
  ws.image.build(f, ws.graphs);
  // Matching needs the comparison image, unless the target has no pairs in either dimension. A
  // dimension where the target (or the prediction) has no pair skips its comparison sweep, so
  // against a connected target without holes only the prediction's own sweeps run.
  if (!target.pairs[0].empty() || !target.pairs[1].empty()) comparison(f, target, ws);
  for (int dim = 1; dim >= 0; --dim) {  // dimension 1 first: it keeps the edges dimension 0 sweeps
    Output out;
    out.pred = buffers[2 * dim];
    out.matched = buffers[2 * dim + 1];
    if (dim == 1)
      dimension1(ws, target, out);
    else
      dimension0(ws, target, out);
    counts[2 * dim] = out.pred_count;
    counts[2 * dim + 1] = out.matched_count;
  }
  return 0;
}

// BM-Loss of f against a prepared target and its gradient d loss / d f (docs/betti-matching.md,
// "Loss and metric"), the numpy formula of jaxtopo.host.betti_matching.loss_and_grad_of_matching.
struct LossOptions {
  int32_t dims_mask;  // bit d: include dimension d
  int32_t push_unmatched_to_1_0;
  double matched_weight, unmatched_weight, min_persistence;
};

template <typename T>
struct LossBuffers {
  std::vector<int64_t> store[4];
  std::vector<uint8_t> matched_pred, matched_target;
};

template <typename T>
__attribute__((noinline)) LossBuffers<T>& loss_buffers() {  // not inlined: see workspace()
  thread_local LossBuffers<T> buffers;
  return buffers;
}

template <typename T>
int64_t loss_prepared(const T* f, const PreparedTarget<T>& target, const LossOptions& options, double* grad,
                      double* value) {
  LossBuffers<T>& lb = loss_buffers<T>();
  const int64_t n = int64_t(target.height) * target.width;
  int64_t* buffers[4];
  for (int k = 0; k < 4; ++k) {
    lb.store[k].resize(2 * (n + 1));
    buffers[k] = lb.store[k].data();
  }
  int64_t counts[4];
  const int64_t status = match_prepared(f, target, buffers, counts);
  if (status != 0) return status;
  std::fill(grad, grad + n, 0.0);
  const T* g = target.values.data();
  const bool push = options.push_unmatched_to_1_0 != 0;
  double total = 0.0;
  for (int dim = 0; dim < 2; ++dim) {
    if (!(options.dims_mask & (1 << dim))) continue;
    const int64_t* pred = buffers[2 * dim];
    const int64_t* matched = buffers[2 * dim + 1];
    const std::vector<int64_t>& tpairs = target.pairs[dim];
    const int64_t n_pred = counts[2 * dim], n_matched = counts[2 * dim + 1];
    const int64_t n_target = static_cast<int64_t>(tpairs.size() / 2);
    lb.matched_pred.assign(n_pred, 0);
    lb.matched_target.assign(n_target, 0);
    const double wm = options.matched_weight, wu = options.unmatched_weight;
    for (int64_t r = 0; r < n_matched; ++r) {  // 2 ((b_p - b_t)^2 + (d_p - d_t)^2) w_m
      const int64_t i = matched[2 * r], j = matched[2 * r + 1];
      lb.matched_pred[i] = lb.matched_target[j] = 1;
      const double db = double(f[pred[2 * i]]) - double(g[tpairs[2 * j]]);
      const double dd = double(f[pred[2 * i + 1]]) - double(g[tpairs[2 * j + 1]]);
      total += 2.0 * wm * (db * db + dd * dd);
      grad[pred[2 * i]] += 4.0 * wm * db;
      grad[pred[2 * i + 1]] += 4.0 * wm * dd;
    }
    for (int64_t i = 0; i < n_pred; ++i) {  // unmatched prediction pairs longer than min_persistence
      if (lb.matched_pred[i]) continue;
      const double b = f[pred[2 * i]], d = f[pred[2 * i + 1]];
      if (!(std::fabs(b - d) > options.min_persistence)) continue;
      if (push) {  // 2 ((b - 1)^2 + d^2) w_u
        total += 2.0 * wu * ((b - 1.0) * (b - 1.0) + d * d);
        grad[pred[2 * i]] += 4.0 * wu * (b - 1.0);
        grad[pred[2 * i + 1]] += 4.0 * wu * d;
      } else {  // (b - d)^2 w_u
        total += wu * (b - d) * (b - d);
        grad[pred[2 * i]] += 2.0 * wu * (b - d);
        grad[pred[2 * i + 1]] -= 2.0 * wu * (b - d);
      }
    }
    for (int64_t j = 0; j < n_target; ++j) {  // unmatched target pairs: a constant
      if (lb.matched_target[j]) continue;
      const double b = g[tpairs[2 * j]], d = g[tpairs[2 * j + 1]];
      total += push ? 2.0 * ((b - 1.0) * (b - 1.0) + d * d) : (b - d) * (b - d);
    }
  }
  *value = total;
  return 0;
}

template <typename T>
void* prepare(const T* g, int32_t height, int32_t width, int32_t construction, int64_t* status) {
  *status = -1;
  if (height <= 0 || width <= 0 || (construction != 0 && construction != 1)) return nullptr;
  *status = -3;
  if (static_cast<int64_t>(height) * width * 4 >= std::numeric_limits<int32_t>::max()) return nullptr;
  *status = -2;
  for (int64_t p = 0; p < int64_t(height) * width; ++p)
    if (!std::isfinite(g[p])) return nullptr;
  auto* target = new PreparedTarget<T>();
  prepare_target(g, height, width, construction, *target);
  *status = 0;
  return target;
}

// parts_above on one image (the tests compare it with an independent labelling): each dual
// node's part, as the part's oldest node under the image's dual age; returns the number of parts.
template <typename T>
int64_t dual_parts(const T* image, int32_t height, int32_t width, int32_t construction, T threshold, int32_t* root) {
  if (height <= 0 || width <= 0 || (construction != 0 && construction != 1)) return -1;
  Graphs gr;
  gr.build(height, width, construction);
  Filtered<T> im;
  im.build_nodes(image, gr);
  Components uf;
  std::vector<int32_t> label;
  std::vector<uint8_t> flags;
  const int32_t parts = parts_above(im, gr, threshold, uf, DualOlder<T>{im.dual_value.data()}, label, flags);
  std::copy(uf.parent.begin(), uf.parent.end(), root);
  return parts;
}

}  // namespace

extern "C" {

// Testing: the parts into which an image's dual edges of value above `threshold` join its dual
// nodes ((H - 1) * (W - 1) + 1 on V, H * W + 1 on T; the exterior last): root[v] is the oldest
// node of v's part. Returns the number of parts, or -1 (bad arguments).
int64_t jaxtopo_bm_dual_parts_f64(const double* image, int32_t height, int32_t width, int32_t construction,
                                  double threshold, int32_t* root) {
  return dual_parts(image, height, width, construction, threshold, root);
}

// A prepared target (jaxtopo_bm_prepare_*), used by any number of jaxtopo_bm_match_* calls with
// predictions of its shape and dtype, then freed with jaxtopo_bm_free_*. Status: 0, -1 (bad
// arguments), -2 (a value is not finite) or -3 (image too large).
void* jaxtopo_bm_prepare_f32(const float* g, int32_t height, int32_t width, int32_t construction, int64_t* status) {
  return prepare(g, height, width, construction, status);
}
void* jaxtopo_bm_prepare_f64(const double* g, int32_t height, int32_t width, int32_t construction, int64_t* status) {
  return prepare(g, height, width, construction, status);
}
void jaxtopo_bm_free_f32(void* target) { delete static_cast<PreparedTarget<float>*>(target); }
void jaxtopo_bm_free_f64(void* target) { delete static_cast<PreparedTarget<double>*>(target); }

// The target's pairs of dimension `dim` (copied into `pairs`, 2 * count int64); returns count.
int64_t jaxtopo_bm_target_pairs_f32(const void* target, int32_t dim, int64_t* pairs) {
  const auto& t = *static_cast<const PreparedTarget<float>*>(target);
  std::copy(t.pairs[dim].begin(), t.pairs[dim].end(), pairs);
  return static_cast<int64_t>(t.pairs[dim].size() / 2);
}
int64_t jaxtopo_bm_target_pairs_f64(const void* target, int32_t dim, int64_t* pairs) {
  const auto& t = *static_cast<const PreparedTarget<double>*>(target);
  std::copy(t.pairs[dim].begin(), t.pairs[dim].end(), pairs);
  return static_cast<int64_t>(t.pairs[dim].size() / 2);
}

// Whether a prepared target was made from exactly these values (bytes; H * W of its shape).
int32_t jaxtopo_bm_target_holds_f32(const void* target, const float* g) {
  const auto& t = *static_cast<const PreparedTarget<float>*>(target);
  return std::memcmp(t.values.data(), g, t.values.size() * sizeof(float)) == 0;
}
int32_t jaxtopo_bm_target_holds_f64(const void* target, const double* g) {
  const auto& t = *static_cast<const PreparedTarget<double>*>(target);
  return std::memcmp(t.values.data(), g, t.values.size() * sizeof(double)) == 0;
}

// The bytes a prepared target holds.
int64_t jaxtopo_bm_target_bytes_f32(const void* target) {
  return static_cast<int64_t>(static_cast<const PreparedTarget<float>*>(target)->nbytes());
}
int64_t jaxtopo_bm_target_bytes_f64(const void* target) {
  return static_cast<int64_t>(static_cast<const PreparedTarget<double>*>(target)->nbytes());
}

int64_t jaxtopo_bm_match_f32(const float* f, const void* target, int64_t** buffers, int64_t* counts) {
  return match_prepared(f, *static_cast<const PreparedTarget<float>*>(target), buffers, counts);
}
int64_t jaxtopo_bm_match_f64(const double* f, const void* target, int64_t** buffers, int64_t* counts) {
  return match_prepared(f, *static_cast<const PreparedTarget<double>*>(target), buffers, counts);
}

// BM-Loss of f against a prepared target: value and d loss / d f (H * W doubles). Status as above.
int64_t jaxtopo_bm_loss_f32(const float* f, const void* target, int32_t dims_mask, int32_t push_unmatched_to_1_0,
                            double matched_weight, double unmatched_weight, double min_persistence, double* grad,
                            double* value) {
  const LossOptions options{dims_mask, push_unmatched_to_1_0, matched_weight, unmatched_weight, min_persistence};
  return loss_prepared(f, *static_cast<const PreparedTarget<float>*>(target), options, grad, value);
}
int64_t jaxtopo_bm_loss_f64(const double* f, const void* target, int32_t dims_mask, int32_t push_unmatched_to_1_0,
                            double matched_weight, double unmatched_weight, double min_persistence, double* grad,
                            double* value) {
  const LossOptions options{dims_mask, push_unmatched_to_1_0, matched_weight, unmatched_weight, min_persistence};
  return loss_prepared(f, *static_cast<const PreparedTarget<double>*>(target), options, grad, value);
}

}  // extern "C"
