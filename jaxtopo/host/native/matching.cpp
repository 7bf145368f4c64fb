// Exact spatially weighted optimal partial matching of persistence diagrams.
//
// Same formulation as jaxtopo/host/matching.py: one row per target point j; column i < n costs
// C_ij - D(p_i), column n + j costs D(t_j) and is open to row j only; the answer is
// sum_i D(p_i) + the minimum assignment of all rows. Rows are pruned exactly (only columns
// cheaper than the row's diagonal column, and only the row's min(m, n) cheapest of those) and
// the sparse problem is solved by shortest augmenting paths with potentials (Dijkstra on reduced
// costs, one augmentation per row).
//
// Finding each row's cheapest columns is most of the work: a 300x300 likelihood has some 10^4
// predicted points per dimension. The predicted points are bucketed on a grid (by creator
// position when the cost is spatially weighted, by diagram position otherwise); every bucket
// has a lower bound on the reduced cost of its points against a target point, from the gaps
// between the target and the bucket's bounding boxes. A row visits buckets cheapest bound
// first and stops at the first bound above its current threshold, so it reads the few hundred
// points that can matter instead of all of them, and its threshold tightens early.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

namespace {

struct Edge {
  int32_t column;
  double cost;
};

struct Costs {
  int32_t q;             // exponent of the diagram distance: 1 (official) or 2 (paper)
  int32_t weight_power;  // spatial weight = clamp(distance^power, low, 1); 0 = no weight
  double low;

  double diagonal(double birth, double death) const {
    const double half = (death - birth) / 2.0;
    const double squared = 2.0 * half * half;
    return q == 1 ? std::sqrt(squared) : squared;
  }

  // The factor applied to the squared diagram distance, from the squared creator distance:
  // weight^2 for q = 1 (one square root then serves both), weight for q = 2.
  double factor(double spread) const {
    if (weight_power == 0) return 1.0;
    const double floor = weight_power == 1 ? low * low : low;
    return std::min(1.0, std::max(floor, spread));
  }

  double pair(double squared_distance, double spread) const {
    const double scaled = factor(spread) * squared_distance;
    return q == 1 ? std::sqrt(scaled) : scaled;
  }
};

// The compact problem of assign() after its row reduction, when (nearly) every row can use
// every predicted column, which is what tubular images give: all target loops want the same few
// hundred persistent predicted loops. Then the searches are run on a dense row-major matrix of
// the predicted columns, where relaxing a row and finding the nearest column are one pass over
// contiguous arrays, instead of scattered edge lists and a separate scan. Each row also has its
// private diagonal column, kept apart: it is free whenever its row is reached by a search (a
// row that holds it is never reached, as no other row can enter it).
struct DenseProblem {
  int64_t width = 0;                  // predicted columns
  std::vector<int32_t> compact;       // dense index -> compact column
  std::vector<int32_t> dense_of;      // compact column -> dense index, or -1 for a diagonal one
  std::vector<double> cost;           // [rows, width], +inf where a row has no edge
  std::vector<int32_t> diagonal;      // compact diagonal column of each row
  std::vector<double> diagonal_cost;  // its cost
};

// Dense form of the CSR problem, or width 0 when it is too sparse (or too large) to pay, or when
// a row lacks exactly one diagonal column of its own.
DenseProblem make_dense(int32_t m, int32_t k, int32_t first_diagonal, const std::vector<int32_t>& original,
                        const std::vector<int32_t>& begin, const std::vector<int32_t>& edge_column,
                        const std::vector<double>& edge_cost) {
  DenseProblem d;
  d.dense_of.assign(k, -1);
  for (int32_t c = 0; c < k; ++c) {
    if (original[c] < first_diagonal) {
      d.dense_of[c] = static_cast<int32_t>(d.compact.size());
      d.compact.push_back(c);
    }
  }
  const int64_t width = static_cast<int64_t>(d.compact.size());
  const int64_t predicted_edges = static_cast<int64_t>(edge_column.size()) - m;
  // dense pays when at least 3/4 of the matrix is edges; 2^24 entries cap the memory at 128 MB
  if (width == 0 || 4 * predicted_edges < 3 * int64_t(m) * width || int64_t(m) * width > (int64_t(1) << 24))
    return DenseProblem{};
  d.width = width;
  d.cost.assign(int64_t(m) * width, std::numeric_limits<double>::infinity());
  d.diagonal.assign(m, -1);
  d.diagonal_cost.assign(m, 0.0);
  for (int32_t r = 0; r < m; ++r) {
    for (int32_t e = begin[r]; e < begin[r + 1]; ++e) {
      const int32_t c = edge_column[e];
      if (d.dense_of[c] >= 0) {
        d.cost[int64_t(r) * width + d.dense_of[c]] = edge_cost[e];
      } else if (original[c] == first_diagonal + r && d.diagonal[r] < 0) {
        d.diagonal[r] = c;
        d.diagonal_cost[r] = edge_cost[e];
      } else {
        return DenseProblem{};  // not the shape this is made for
      }
    }
    if (d.diagonal[r] < 0) return DenseProblem{};
  }
  return d;
}

// Places every row of free_rows by one Dijkstra search on the dense problem; same potentials
// and invariants as the sparse searches in assign().
void dense_searches(const DenseProblem& d, const std::vector<int32_t>& free_rows, std::vector<double>& u,
                    std::vector<double>& v, std::vector<int32_t>& row_of, std::vector<int32_t>& column_of) {
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t width = d.width;
  std::vector<double> price(width), distance(width, inf);  // price: v of each dense column
  std::vector<int32_t> came_from(width, -1);
  std::vector<char> done(width, 0);
  std::vector<int32_t> visited_rows, settled;
  for (int64_t j = 0; j < width; ++j) price[j] = v[d.compact[j]];
  for (const int32_t start : free_rows) {
    visited_rows.clear();
    settled.clear();
    int32_t row = start, sink = -1, sink_row = -1;  // sink: compact column
    double reached = 0.0, diagonal_best = inf;
    int32_t diagonal_row = -1;  // the reached row whose free diagonal column is nearest
    while (sink < 0) {
      visited_rows.push_back(row);
      const double base = reached - u[row];
      const double through_diagonal = base + d.diagonal_cost[row] - v[d.diagonal[row]];
      if (through_diagonal < diagonal_best) diagonal_best = through_diagonal, diagonal_row = row;
      const double* cost = d.cost.data() + int64_t(row) * width;
      double nearest = inf;
      int64_t column = -1;
      for (int64_t j = 0; j < width; ++j) {
        if (done[j]) continue;
        const double through_row = base + cost[j] - price[j];
        if (through_row < distance[j]) distance[j] = through_row, came_from[j] = row;
        if (distance[j] < nearest) nearest = distance[j], column = j;
      }
      if (diagonal_best <= nearest) {  // the nearest column is a free diagonal one: the path ends
        reached = diagonal_best;
        sink = d.diagonal[diagonal_row];
        sink_row = diagonal_row;
        break;
      }
      done[column] = 1;
      settled.push_back(static_cast<int32_t>(column));
      reached = nearest;
      const int32_t c = d.compact[column];
      if (row_of[c] < 0) {
        sink = c;
        sink_row = came_from[column];
      } else {
        row = row_of[c];
      }
    }
    // potentials, as in assign(): reduced costs stay non-negative, assigned ones zero
    u[start] += reached;
    for (const int32_t r : visited_rows)
      if (r != start) u[r] += reached - distance[d.dense_of[column_of[r]]];
    for (const int32_t j : settled) price[j] -= reached - distance[j];
    // augment back to the start row
    int32_t column = sink, r = sink_row;
    while (true) {
      const int32_t previous = column_of[r];
      row_of[column] = r;
      column_of[r] = column;
      if (r == start) break;
      column = previous;
      r = came_from[d.dense_of[column]];
    }
    std::fill(distance.begin(), distance.end(), inf);
    for (const int32_t j : settled) done[j] = 0;
  }
  for (int64_t j = 0; j < width; ++j) v[d.compact[j]] = price[j];
}

// Sparse rectangular assignment (rows <= columns, every row has at least one edge that can be
// completed: here its private diagonal column). Returns the column of each row, or nothing if
// the problem is infeasible. Potentials u (rows) and v (columns, 0 while free) keep reduced
// costs non-negative, so each free row is placed by one Dijkstra search.
//
// The columns that some row can use are renumbered 0..k-1 and the edges packed row after row,
// so the searches touch small arrays that stay in L1 (k is a few thousand of the n + m).
std::vector<int32_t> assign(const std::vector<std::vector<Edge>>& rows, int32_t columns) {
  const int32_t m = static_cast<int32_t>(rows.size());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<int32_t> compact(columns, -1), original, begin(m + 1, 0), edge_column;
  std::vector<double> edge_cost;
  for (int32_t r = 0; r < m; ++r) {
    for (const Edge& e : rows[r]) {
      if (compact[e.column] < 0) {
        compact[e.column] = static_cast<int32_t>(original.size());
        original.push_back(e.column);
      }
      edge_column.push_back(compact[e.column]);
      edge_cost.push_back(e.cost);
    }
    begin[r + 1] = static_cast<int32_t>(edge_column.size());
  }
  const int32_t k = static_cast<int32_t>(original.size());
  std::vector<double> u(m, 0.0), v(k, 0.0), distance(k, inf);
  std::vector<int32_t> row_of(k, -1), column_of(m, -1), came_from(k, -1);
  std::vector<char> done(k, 0);
  std::vector<int32_t> touched, visited_rows;

  // Augmenting row reduction (Jonker and Volgenant): a free row takes its cheapest column at
  // reduced price, evicting the owner, and lowers that column's price to its second-best
  // option, so that it stays feasible and tight. Rows here compete for the same few persistent
  // predicted points, and this settles most of them in a few cheap passes (at most 8, as ties can make rows trade columns back and forth); each remaining free
  // row is then placed by one Dijkstra search. Columns keep v = 0 while free, and a column
  // once taken stays taken (only its owner changes), as the rectangular problem requires.
  std::vector<int32_t> free_rows(m), next_free;
  for (int32_t r = 0; r < m; ++r) free_rows[r] = r;
  for (int pass = 0; pass < 8 && !free_rows.empty(); ++pass) {
    next_free.clear();
    for (const int32_t r : free_rows) {
      int32_t best = -1, second = -1;
      double best_price = inf, second_price = inf;
      for (int32_t e = begin[r]; e < begin[r + 1]; ++e) {
        const double price = edge_cost[e] - v[edge_column[e]];
        if (price < best_price) {
          second = best, second_price = best_price;
          best = edge_column[e], best_price = price;
        } else if (price < second_price) {
          second = edge_column[e], second_price = price;
        }
      }
      int32_t take = best;
      if (second < 0) {
        u[r] = best_price;
      } else if (best_price < second_price) {
        v[best] -= second_price - best_price;
        u[r] = second_price;
      } else {  // a tie: prefer a free column, so that rows do not evict each other forever
        if (row_of[best] >= 0 && row_of[second] < 0) take = second;
        u[r] = best_price;
      }
      const int32_t evicted = row_of[take];
      row_of[take] = r;
      column_of[r] = take;
      if (evicted >= 0) {
        column_of[evicted] = -1;
        next_free.push_back(evicted);
      }
    }
    free_rows.swap(next_free);
  }
  // rows still free get u = their cheapest reduced price, so their edges are non-negative
  for (const int32_t r : free_rows) {
    double cheapest = inf;
    for (int32_t e = begin[r]; e < begin[r + 1]; ++e)
      cheapest = std::min(cheapest, edge_cost[e] - v[edge_column[e]]);
    u[r] = cheapest;
  }

  // columns - m = n: row j's diagonal column is n + j. Nothing to build when the row
  // reduction placed every row.
  const DenseProblem dense = free_rows.empty() ? DenseProblem{}
                             : make_dense(m, k, columns - m, original, begin, edge_column, edge_cost);
  if (dense.width > 0) {
    dense_searches(dense, free_rows, u, v, row_of, column_of);
    for (int32_t r = 0; r < m; ++r) column_of[r] = original[column_of[r]];
    return column_of;
  }

  using Item = std::pair<double, int32_t>;
  std::vector<Item> heap;  // a min-heap by distance, with stale entries skipped when popped
  auto later = [](const Item& a, const Item& b) { return a.first > b.first; };
  // When rows share most of their columns (every target point wants the same persistent
  // predicted points), a search reaches most columns anyway: picking the nearest by a scan of
  // the reached ones is then cheaper than keeping a heap of every improvement.
  const bool scan = k <= 4 * (static_cast<int64_t>(edge_column.size()) / m + 1);
  for (const int32_t start : free_rows) {
    heap.clear();
    touched.clear();
    visited_rows.clear();
    int32_t row = start, sink = -1;
    double reached = 0.0;  // length of the shortest path to the current row
    while (sink < 0) {
      visited_rows.push_back(row);
      const double base = reached - u[row];
      for (int32_t e = begin[row]; e < begin[row + 1]; ++e) {
        const int32_t c = edge_column[e];
        const double d = base + edge_cost[e] - v[c];
        if (done[c] || d >= distance[c]) continue;
        if (distance[c] == inf) touched.push_back(c);
        distance[c] = d;
        came_from[c] = row;
        if (scan) continue;
        heap.emplace_back(d, c);
        std::push_heap(heap.begin(), heap.end(), later);
      }
      int32_t column = -1;
      if (scan) {
        double nearest = inf;
        for (const int32_t c : touched)
          if (!done[c] && distance[c] < nearest) nearest = distance[c], column = c;
      }
      while (!scan && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const Item top = heap.back();
        heap.pop_back();
        if (!done[top.second] && top.first == distance[top.second]) {
          column = top.second;
          break;
        }
      }
      if (column < 0) return {};  // infeasible (cannot happen with diagonal columns)
      done[column] = 1;
      reached = distance[column];
      if (row_of[column] < 0) {
        sink = column;
      } else {
        row = row_of[column];
      }
    }
    // potentials keep every reduced cost non-negative and those of assigned edges zero
    u[start] += reached;
    for (int32_t r : visited_rows)
      if (r != start) u[r] += reached - distance[column_of[r]];
    for (int32_t c : touched)
      if (done[c]) v[c] -= reached - distance[c];
    // augment along the path back to the start row
    int32_t column = sink;
    while (true) {
      const int32_t r = came_from[column];
      const int32_t previous = column_of[r];
      row_of[column] = r;
      column_of[r] = column;
      if (r == start) break;
      column = previous;
    }
    for (int32_t c : touched) {
      distance[c] = inf;
      done[c] = 0;
    }
  }
  for (int32_t r = 0; r < m; ++r) column_of[r] = original[column_of[r]];
  return column_of;
}

// Predicted points grouped by grid bucket, each bucket contiguous, with its bounds.
struct Buckets {
  std::vector<int32_t> start;  // bucket b holds positions start[b] .. start[b + 1] - 1
  std::vector<int32_t> column;  // the original index of the point at each position
  std::vector<double> birth, death, x, y, diagonal;  // per position
  // per bucket: bounding boxes of the diagram points and of the creators, and the largest
  // diagonal cost D(p) and distance to the diagonal among its points
  std::vector<double> b_min, b_max, d_min, d_max, x_min, x_max, y_min, y_max, diagonal_max,
      off_diagonal_max;
};

// Points per bucket in each band: the near-diagonal band is most of the points and rows read few
// of its buckets, so its buckets are larger (fewer bounds per row); the persistent bands are
// read by almost every row, so their buckets are small (bounds stay sharp).
constexpr int64_t kPointsPerBucket[] = {128, 32, 32, 32};

// Buckets are cut first by distance to the diagonal, then on a grid. Bands matter because a
// bucket's bound must assume its most persistent point: one persistent point among many noise
// points would make every row visit all of them. Band edges sit at the 90th, 97th and 99th
// percentiles of that distance, so the few persistent points form buckets of their own.
constexpr int kBands = 4;
constexpr double kBandQuantiles[kBands - 1] = {0.9, 0.97, 0.99};

Buckets make_buckets(const double* pred, const double* pred_xy, const std::vector<double>& diagonal,
                     int64_t n, bool by_creator) {
  // band of each point by its diagonal cost (monotone in the distance to the diagonal)
  std::vector<double> sorted(diagonal);
  double edges[kBands - 1];
  int64_t done = 0;  // each quantile lies above the previous one: select in what is left
  for (int e = 0; e < kBands - 1; ++e) {
    const int64_t k = std::max(done, std::min<int64_t>(n - 1, static_cast<int64_t>(kBandQuantiles[e] * n)));
    std::nth_element(sorted.begin() + done, sorted.begin() + k, sorted.end());
    edges[e] = sorted[k];
    done = k;
  }
  std::vector<int8_t> band(n);
  std::vector<int64_t> band_size(kBands, 0);
  for (int64_t i = 0; i < n; ++i) {
    int8_t k = 0;
    while (k < kBands - 1 && diagonal[i] > edges[k]) ++k;
    band[i] = k;
    ++band_size[k];
  }
  // grid coordinates: creator (x, y) or diagram (birth, death); one bounding box for all bands
  const double* keys = by_creator ? pred_xy : pred;
  double u0 = keys[0], u1 = keys[0], v0 = keys[1], v1 = keys[1];
  for (int64_t i = 1; i < n; ++i) {
    u0 = std::min(u0, keys[2 * i]), u1 = std::max(u1, keys[2 * i]);
    v0 = std::min(v0, keys[2 * i + 1]), v1 = std::max(v1, keys[2 * i + 1]);
  }
  int64_t side[kBands], first[kBands + 1];
  first[0] = 0;
  for (int k = 0; k < kBands; ++k) {
    side[k] = std::max<int64_t>(1, std::llround(std::sqrt(double(band_size[k]) / kPointsPerBucket[k])));
    first[k + 1] = first[k] + side[k] * side[k];
  }
  double scale_u[kBands], scale_v[kBands];
  for (int k = 0; k < kBands; ++k) {
    scale_u[k] = u1 > u0 ? side[k] / (u1 - u0) : 0.0;
    scale_v[k] = v1 > v0 ? side[k] / (v1 - v0) : 0.0;
  }
  auto bucket_of = [&](int64_t i) {
    const int k = band[i];
    const int64_t a = std::min<int64_t>(side[k] - 1, static_cast<int64_t>((keys[2 * i] - u0) * scale_u[k]));
    const int64_t b = std::min<int64_t>(side[k] - 1, static_cast<int64_t>((keys[2 * i + 1] - v0) * scale_v[k]));
    return first[k] + a * side[k] + b;
  };
  const int64_t count = first[kBands];
  std::vector<int64_t> bucket(n);
  for (int64_t i = 0; i < n; ++i) bucket[i] = bucket_of(i);
  Buckets g;
  g.start.assign(count + 1, 0);
  for (int64_t i = 0; i < n; ++i) ++g.start[bucket[i] + 1];
  for (int64_t b = 0; b < count; ++b) g.start[b + 1] += g.start[b];
  std::vector<int32_t> next(g.start.begin(), g.start.end() - 1);
  g.column.resize(n);
  for (int64_t i = 0; i < n; ++i) g.column[next[bucket[i]]++] = static_cast<int32_t>(i);
  for (auto* v : {&g.birth, &g.death, &g.x, &g.y, &g.diagonal}) v->resize(n);
  const double inf = std::numeric_limits<double>::infinity();
  for (auto* v : {&g.b_min, &g.d_min, &g.x_min, &g.y_min}) v->assign(count, inf);
  for (auto* v : {&g.b_max, &g.d_max, &g.x_max, &g.y_max}) v->assign(count, -inf);
  g.diagonal_max.assign(count, 0.0);
  g.off_diagonal_max.assign(count, 0.0);
  for (int64_t b = 0; b < count; ++b) {
    for (int32_t k = g.start[b]; k < g.start[b + 1]; ++k) {
      const int32_t i = g.column[k];
      g.birth[k] = pred[2 * i], g.death[k] = pred[2 * i + 1];
      g.x[k] = pred_xy[2 * i], g.y[k] = pred_xy[2 * i + 1];
      g.diagonal[k] = diagonal[i];
      g.b_min[b] = std::min(g.b_min[b], g.birth[k]), g.b_max[b] = std::max(g.b_max[b], g.birth[k]);
      g.d_min[b] = std::min(g.d_min[b], g.death[k]), g.d_max[b] = std::max(g.d_max[b], g.death[k]);
      g.x_min[b] = std::min(g.x_min[b], g.x[k]), g.x_max[b] = std::max(g.x_max[b], g.x[k]);
      g.y_min[b] = std::min(g.y_min[b], g.y[k]), g.y_max[b] = std::max(g.y_max[b], g.y[k]);
      g.diagonal_max[b] = std::max(g.diagonal_max[b], diagonal[i]);
      g.off_diagonal_max[b] = std::max(g.off_diagonal_max[b], std::abs(g.death[k] - g.birth[k]) / std::sqrt(2.0));
    }
  }
  return g;
}

inline double gap(double value, double low, double high) {
  return std::max({0.0, low - value, value - high});
}

// A lower bound on C_ij - D(p_i) over the points p_i of bucket b, against target point
// (tb, td) with creator (tx, ty): the pair cost is at least the weight at the creators' box gap
// times the diagram distance, which is at least the gap to the diagram box and at least the
// difference of the distances to the diagonal (that distance is 1-Lipschitz); D(p_i) is at most
// the bucket's largest. Lowered by a relative 1e-9 against rounding, so it never exceeds a
// true reduced cost.
inline double bucket_bound(const Buckets& g, int64_t b, double tb, double td, double tx, double ty,
                           const Costs& costs) {
  const double gb = gap(tb, g.b_min[b], g.b_max[b]), gd = gap(td, g.d_min[b], g.d_max[b]);
  const double gx = gap(tx, g.x_min[b], g.x_max[b]), gy = gap(ty, g.y_min[b], g.y_max[b]);
  const double off_diagonal = std::abs(td - tb) / std::sqrt(2.0) - g.off_diagonal_max[b];
  const double distance = std::max(std::sqrt(gb * gb + gd * gd), off_diagonal);
  const double cost = costs.pair(distance * distance, gx * gx + gy * gy);
  return cost - g.diagonal_max[b] - 1e-9 * (cost + g.diagonal_max[b]);
}

// Keeps the `keep` cheapest edges of `row` and returns the largest cost kept.
template <typename Less>
double shrink(std::vector<Edge>& row, size_t keep, Less less) {
  std::nth_element(row.begin(), row.begin() + (keep - 1), row.end(), less);
  const double kth = row[keep - 1].cost;
  row.resize(keep);
  return kth;
}

}  // namespace

extern "C" {

// pred: [n, 2] (birth, death), pred_xy: [n, 2]; target: [m, 2], target_xy: [m, 2].
// Writes matched_to[n] (target index or -1 for the diagonal) and the optimal value.
// Returns 0 on success, -1 if the assignment failed, -2 on a non-finite input.
int64_t jaxtopo_optimal_matching(const double* pred, const double* pred_xy, int64_t n,
                                 const double* target, const double* target_xy, int64_t m,
                                 int32_t q, int32_t weight_power, double low,
                                 int64_t* matched_to, double* value) {
  for (int64_t k = 0; k < 2 * n; ++k)
    if (!std::isfinite(pred[k]) || !std::isfinite(pred_xy[k])) return -2;
  for (int64_t k = 0; k < 2 * m; ++k)
    if (!std::isfinite(target[k]) || !std::isfinite(target_xy[k])) return -2;
  const Costs costs{q, weight_power, low};
  std::vector<double> pred_diagonal(n), target_diagonal(m);
  double base = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    pred_diagonal[i] = costs.diagonal(pred[2 * i], pred[2 * i + 1]);
    base += pred_diagonal[i];
    matched_to[i] = -1;
  }
  for (int64_t j = 0; j < m; ++j) target_diagonal[j] = costs.diagonal(target[2 * j], target[2 * j + 1]);
  if (m == 0 || n == 0) {
    double total = base;
    for (double d : target_diagonal) total += d;
    *value = total;
    return 0;
  }
  const Buckets g = make_buckets(pred, pred_xy, pred_diagonal, n, weight_power != 0);
  const int64_t bucket_count = static_cast<int64_t>(g.start.size()) - 1;
  const size_t keep = static_cast<size_t>(std::min(m, n));
  auto by_cost = [](const Edge& a, const Edge& b) { return a.cost < b.cost; };
  std::vector<std::vector<Edge>> rows(m);
  std::vector<std::pair<double, int32_t>> order;  // (bound, bucket) of the buckets a row visits
  for (int64_t j = 0; j < m; ++j) {
    const double tb = target[2 * j], td = target[2 * j + 1];
    const double tx = target_xy[2 * j], ty = target_xy[2 * j + 1];
    double threshold = target_diagonal[j];  // the price a column must beat
    order.clear();
    for (int64_t b = 0; b < bucket_count; ++b) {
      if (g.start[b] == g.start[b + 1]) continue;
      const double bound = bucket_bound(g, b, tb, td, tx, ty, costs);
      if (bound < threshold) order.emplace_back(bound, static_cast<int32_t>(b));
    }
    // a heap: a row usually stops after a few dozen of its buckets, so sorting them all is waste
    auto by_bound = [](const std::pair<double, int32_t>& a, const std::pair<double, int32_t>& b) {
      return a.first > b.first;
    };
    std::make_heap(order.begin(), order.end(), by_bound);
    // Row j keeps its `keep` cheapest columns below its threshold. Columns under it are
    // appended; when 2 * keep have gathered, the `keep` cheapest stay and the threshold drops
    // to the largest of them (amortised linear).
    std::vector<Edge>& row = rows[j];
    row.reserve(2 * keep + 1);
    for (auto end = order.end(); end != order.begin(); --end) {
      std::pop_heap(order.begin(), end, by_bound);
      const auto [bound, b] = *(end - 1);
      if (bound >= threshold) break;  // so are all later buckets
      for (int32_t k = g.start[b]; k < g.start[b + 1]; ++k) {
        const double db = g.birth[k] - tb, dd = g.death[k] - td;
        const double dx = g.x[k] - tx, dy = g.y[k] - ty;
        const double reduced = costs.pair(db * db + dd * dd, dx * dx + dy * dy) - g.diagonal[k];
        if (reduced >= threshold) continue;
        row.push_back({g.column[k], reduced});
        if (row.size() >= 2 * keep) threshold = shrink(row, keep, by_cost);
      }
    }
    if (row.size() > keep) shrink(row, keep, by_cost);
    row.push_back({static_cast<int32_t>(n + j), target_diagonal[j]});
  }
  const std::vector<int32_t> column_of = assign(rows, static_cast<int32_t>(n + m));
  if (column_of.empty()) return -1;
  double total = base;
  for (int64_t j = 0; j < m; ++j) {
    const int32_t c = column_of[j];
    for (const Edge& e : rows[j])
      if (e.column == c) total += e.cost;
    if (c < n) matched_to[c] = j;
  }
  *value = total;
  return 0;
}
}
