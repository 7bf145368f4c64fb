// One image's topological loss and its gradient, all native: persistence of the prediction,
// the optimal matching of every requested dimension against the (cached) target diagrams, and
// the gradient of Eq. 7 with respect to f, which is non-zero only at creator and destroyer
// pixels. jaxtopo/host/image_loss.py does the same in numpy (its reference, and the path of the
// other backends and policies); this one exists so that a whole image runs in one call without
// the GIL, which is what lets a batch use every core.
//
// Conventions are those of image_loss.py: f is the (padded) filtration, creator coordinates are
// (row, column) of the padded frame divided by the unpadded height and width, a predicted point
// sent to the diagonal aims at its projection (b + d) / 2 with weight 1, a matched one at its
// target point with the spatial weight of the two creators.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

extern "C" {
int64_t jaxtopo_persistence_f32(const float* f, int32_t height, int32_t width,
                                int32_t construction, int64_t* creator0, int64_t* destroyer0,
                                int64_t* count0, int64_t* creator1, int64_t* destroyer1,
                                int64_t* count1);
int64_t jaxtopo_persistence_f64(const double* f, int32_t height, int32_t width,
                                int32_t construction, int64_t* creator0, int64_t* destroyer0,
                                int64_t* count0, int64_t* creator1, int64_t* destroyer1,
                                int64_t* count1);
int64_t jaxtopo_optimal_matching(const double* pred, const double* pred_xy, int64_t n,
                                 const double* target, const double* target_xy, int64_t m,
                                 int32_t q, int32_t weight_power, double low,
                                 int64_t* matched_to, double* value);
}

namespace {

inline int64_t persistence(const float* f, int32_t h, int32_t w, int32_t c, int64_t* a, int64_t* b,
                           int64_t* k0, int64_t* d, int64_t* e, int64_t* k1) {
  return jaxtopo_persistence_f32(f, h, w, c, a, b, k0, d, e, k1);
}

inline int64_t persistence(const double* f, int32_t h, int32_t w, int32_t c, int64_t* a, int64_t* b,
                           int64_t* k0, int64_t* d, int64_t* e, int64_t* k1) {
  return jaxtopo_persistence_f64(f, h, w, c, a, b, k0, d, e, k1);
}

// The spatial weight of a matched pair from its squared creator distance.
inline double spatial_weight(double spread, int32_t weight_power, double low) {
  if (weight_power == 0) return 1.0;
  const double weight = weight_power == 1 ? std::sqrt(spread) : spread;
  return std::min(1.0, std::max(low, weight));
}

// Buffers reused by every call on the same thread (reached once per call, then by reference).
struct Buffers {
  std::vector<int64_t> creator[2], destroyer[2], matched_to;
  std::vector<double> points, xy;
};

// Not inlined: in the shared library a thread_local's address comes from __tls_get_addr, which GCC
// may recompute inside loops once the accessor is inlined (betti_matching.cpp measured the cost).
__attribute__((noinline)) Buffers& thread_buffers() {
  thread_local Buffers buffers;
  return buffers;
}

template <typename T>
int64_t image_loss(const T* f, int32_t height, int32_t width, int32_t construction,
                   int32_t image_height, int32_t image_width, int32_t dims_mask,
                   const double* target_points_all, const double* target_xy_all,
                   const int64_t* target_count, int32_t q, int32_t weight_power, double low,
                   double* grad, double* value) {
  // the target arrays hold dimension 0's points, then dimension 1's
  const double* target_points[2] = {target_points_all, target_points_all + 2 * target_count[0]};
  const double* target_xy[2] = {target_xy_all, target_xy_all + 2 * target_count[0]};
  Buffers& b = thread_buffers();
  const int64_t size = int64_t(height) * width;
  for (int dim = 0; dim < 2; ++dim) {
    b.creator[dim].resize(size);
    b.destroyer[dim].resize(size);
  }
  int64_t count[2] = {0, 0};
  const int64_t status = persistence(f, height, width, construction, b.creator[0].data(),
                                     b.destroyer[0].data(), &count[0], b.creator[1].data(),
                                     b.destroyer[1].data(), &count[1]);
  if (status != 0) return status;
  std::fill(grad, grad + size, 0.0);
  double total = 0.0;
  for (int dim = 0; dim < 2; ++dim) {
    if (!(dims_mask & (1 << dim))) continue;
    const int64_t n = count[dim];
    const int64_t* creator = b.creator[dim].data();
    const int64_t* destroyer = b.destroyer[dim].data();
    b.points.resize(2 * n);
    b.xy.resize(2 * n);
    b.matched_to.resize(n);
    double* points = b.points.data();
    double* xy = b.xy.data();
    for (int64_t i = 0; i < n; ++i) {
      points[2 * i] = static_cast<double>(f[creator[i]]);
      points[2 * i + 1] = static_cast<double>(f[destroyer[i]]);
      const int64_t row = creator[i] / width;
      xy[2 * i] = static_cast<double>(row) / image_height;
      xy[2 * i + 1] = static_cast<double>(creator[i] - row * width) / image_width;
    }
    const int64_t m = target_count[dim];
    const double* target = target_points[dim];
    const double* txy = target_xy[dim];
    int64_t* matched_to = b.matched_to.data();
    double dim_value = 0.0;
    const int64_t matched = jaxtopo_optimal_matching(points, xy, n, target, txy, m, q,
                                                     weight_power, low, matched_to, &dim_value);
    if (matched != 0) return matched;
    total += dim_value;
    // Eq. 7: each term w * r^q moves only its creator (birth) and destroyer (death) values
    for (int64_t i = 0; i < n; ++i) {
      const double birth = points[2 * i], death = points[2 * i + 1];
      double goal_birth = (birth + death) / 2.0, goal_death = goal_birth, weight = 1.0;
      const int64_t j = matched_to[i];
      if (j >= 0) {
        goal_birth = target[2 * j];
        goal_death = target[2 * j + 1];
        const double dx = xy[2 * i] - txy[2 * j], dy = xy[2 * i + 1] - txy[2 * j + 1];
        weight = spatial_weight(dx * dx + dy * dy, weight_power, low);
      }
      const double delta_birth = birth - goal_birth, delta_death = death - goal_death;
      double scale = 2.0 * weight;  // d (w r^2) = 2 w delta
      if (q == 1) {                 // d (w r) = w delta / r
        const double r = std::sqrt(delta_birth * delta_birth + delta_death * delta_death);
        scale = r > 0.0 ? weight / r : 0.0;
      }
      grad[creator[i]] += scale * delta_birth;
      grad[destroyer[i]] += scale * delta_death;
    }
  }
  *value = total;
  return 0;
}

}  // namespace

extern "C" {

// f: the padded filtration [height, width]; image_height/width: the unpadded size (for creator
// coordinates); dims_mask: bit d set to include dimension d; the target's diagram points and
// creator coordinates, [target_count[0] + target_count[1], 2] each, dimension 0 first. Writes
// d loss / d f [height, width] into grad and the loss into value. Returns 0, or the failing
// engine's status.
int64_t jaxtopo_image_loss_f32(const float* f, int32_t height, int32_t width, int32_t construction,
                               int32_t image_height, int32_t image_width, int32_t dims_mask,
                               const double* target_points, const double* target_xy,
                               const int64_t* target_count, int32_t q, int32_t weight_power,
                               double low, double* grad, double* value) {
  return image_loss(f, height, width, construction, image_height, image_width, dims_mask,
                    target_points, target_xy, target_count, q, weight_power, low, grad, value);
}

int64_t jaxtopo_image_loss_f64(const double* f, int32_t height, int32_t width, int32_t construction,
                               int32_t image_height, int32_t image_width, int32_t dims_mask,
                               const double* target_points, const double* target_xy,
                               const int64_t* target_count, int32_t q, int32_t weight_power,
                               double low, double* grad, double* value) {
  return image_loss(f, height, width, construction, image_height, image_width, dims_mask,
                    target_points, target_xy, target_count, q, weight_power, low, grad, value);
}
}
