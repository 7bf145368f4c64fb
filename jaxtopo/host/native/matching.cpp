// Exact spatially weighted optimal partial matching of persistence diagrams.
//
// Same formulation as jaxtopo/host/matching.py: one row per target point j; column i < n costs
// C_ij - D(p_i), column n + j costs D(t_j) and is open to row j only; the answer is
// sum_i D(p_i) + the minimum assignment of all rows. Costs are built fused (no cost matrix),
// rows are pruned exactly (only columns cheaper than the row's diagonal column, and only the
// row's min(m, n) cheapest of those), and the sparse problem is solved by shortest augmenting
// paths with potentials (Dijkstra on reduced costs, one augmentation per row).

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
};

// Sparse rectangular assignment (rows <= columns, every row has at least one edge that can be
// completed: here its private diagonal column). Returns the column of each row.
std::vector<int32_t> assign(const std::vector<std::vector<Edge>>& rows, int32_t columns) {
  const int32_t m = static_cast<int32_t>(rows.size());
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(m, 0.0), v(columns, 0.0), distance(columns, inf);
  std::vector<int32_t> row_of(columns, -1), column_of(m, -1), came_from(columns, -1);
  std::vector<char> done(columns, 0);
  std::vector<int32_t> touched, visited_rows;
  using Item = std::pair<double, int32_t>;
  for (int32_t start = 0; start < m; ++start) {
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    touched.clear();
    visited_rows.clear();
    int32_t row = start, sink = -1;
    double reached = 0.0;  // length of the shortest path to the current row
    while (sink < 0) {
      visited_rows.push_back(row);
      for (const Edge& e : rows[row]) {
        if (done[e.column]) continue;
        const double d = reached + e.cost - u[row] - v[e.column];
        if (d < distance[e.column]) {
          if (distance[e.column] == inf) touched.push_back(e.column);
          distance[e.column] = d;
          came_from[e.column] = row;
          heap.emplace(d, e.column);
        }
      }
      int32_t column = -1;
      while (!heap.empty()) {
        const Item top = heap.top();
        heap.pop();
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
  return column_of;
}

// Reduced costs of all predicted points against one target point. Branch-free so that the
// compiler vectorises it; compiled twice (AVX2 and baseline) and picked at load time.
__attribute__((target_clones("avx2", "default"))) void reduced_costs(
    int64_t n, const double* birth, const double* death, const double* px, const double* py,
    const double* pred_diagonal, double tb, double td, double tx, double ty, int32_t q,
    int32_t weight_power, double low, double* out) {
  const double low_factor = weight_power == 1 ? low * low : low;
  const double weighted = weight_power != 0 ? 1.0 : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double db = birth[i] - tb, dd = death[i] - td;
    const double squared = db * db + dd * dd;
    const double dx = px[i] - tx, dy = py[i] - ty;
    // squared spatial distance: weight^2 for q = 1 (one square root serves both), weight for q = 2
    const double s = weight_power == 1 || weight_power == 2 ? dx * dx + dy * dy : 1.0;
    const double factor = std::min(1.0, std::max(low_factor, s)) * weighted + (1.0 - weighted);
    const double cost = q == 1 ? std::sqrt(factor * squared) : factor * squared;
    out[i] = cost - pred_diagonal[i];
  }
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
// Returns 0 on success.
int64_t jaxtopo_optimal_matching(const double* pred, const double* pred_xy, int64_t n,
                                 const double* target, const double* target_xy, int64_t m,
                                 int32_t q, int32_t weight_power, double low,
                                 int64_t* matched_to, double* value) {
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
  // per predicted point, in arrays the inner loop streams through
  std::vector<double> birth(n), death(n), px(n), py(n);
  for (int64_t i = 0; i < n; ++i) {
    birth[i] = pred[2 * i];
    death[i] = pred[2 * i + 1];
    px[i] = pred_xy[2 * i];
    py[i] = pred_xy[2 * i + 1];
  }
  const size_t keep = static_cast<size_t>(std::min(m, n));
  auto by_cost = [](const Edge& a, const Edge& b) { return a.cost < b.cost; };
  std::vector<std::vector<Edge>> rows(m);
  std::vector<double> threshold(target_diagonal);  // per row: the price a new column must beat
  // Columns are visited in blocks small enough to stay in cache while every row reads them
  // (row by row over all columns would stream the whole prediction diagram from memory m times).
  constexpr int64_t kBlock = 1024;
  std::vector<double> reduced(kBlock);
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t count = std::min(kBlock, n - i0);
    for (int64_t j = 0; j < m; ++j) {
      // 1. the block's reduced costs C_ij - D(p_i) against target point j
      reduced_costs(count, birth.data() + i0, death.data() + i0, px.data() + i0, py.data() + i0,
                    pred_diagonal.data() + i0, target[2 * j], target[2 * j + 1], target_xy[2 * j],
                    target_xy[2 * j + 1], q, weight_power, low, reduced.data());
      // 2. row j keeps its `keep` cheapest columns below its diagonal cost. Candidates under the
      //    row's threshold are appended; when 2 * keep have gathered, the `keep` cheapest stay
      //    and the threshold drops to the largest of them (amortised linear, few branches).
      std::vector<Edge>& row = rows[j];
      for (int64_t k = 0; k < count; ++k) {
        if (reduced[k] >= threshold[j]) continue;
        row.push_back({static_cast<int32_t>(i0 + k), reduced[k]});
        if (row.size() >= 2 * keep) threshold[j] = shrink(row, keep, by_cost);
      }
    }
  }
  for (int64_t j = 0; j < m; ++j) {
    if (rows[j].size() > keep) shrink(rows[j], keep, by_cost);
    rows[j].push_back({static_cast<int32_t>(n + j), target_diagonal[j]});
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
