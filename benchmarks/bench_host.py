"""Host-side cost of the topological loss per image, with medians and ratios in one run.

    python benchmarks/bench_host.py [--sizes 64 128 300] [--repeats 5]

Prints, per image side: persistence with critical pixels through jaxtopo's backend, gudhi's
CubicalComplex + cofaces called directly, cripser's computePH_T, and the whole host work of
`sat_loss` per image (prediction persistence + matching of both dimensions, target cached).
Images are realistic likelihoods: a tubular network plus noise, and uniform noise (worst case).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from jaxtopo.host import TARGET_CACHE, TopoLossConfig, batch_loss_and_grad, image_loss_and_grad, persistence_diagrams


def tubular_likelihood(side: int, rng: np.random.Generator):
    """A grid-like network of bright thin lines with noise, and its binary label."""
    label = np.zeros((side, side), bool)
    for _ in range(max(2, side // 30)):
        label[rng.integers(0, side), :] = True
        label[:, rng.integers(0, side)] = True
    likelihood = np.clip(0.8 * label + 0.25 * rng.random((side, side)), 0, 1)
    return likelihood.astype(np.float32), label.astype(np.float32)


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def gudhi_direct(f):
    import gudhi

    cc = gudhi.CubicalComplex(top_dimensional_cells=f)
    cc.persistence()
    return cc.cofaces_of_persistence_pairs()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 300, 600, 1000])
    parser.add_argument("--batch", type=int, default=16, help="batch for the threaded batch timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default=None)
    args = parser.parse_args()
    try:
        import cripser
    except ImportError:
        cripser = None
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}; single thread; medians of {args.repeats} runs in ms")
    header = f"{'image':>16} {'jaxtopo PH':>11} {'gudhi PH':>9} {'cripser PH':>11} {'sat_loss host':>14}"
    print(header)
    rng = np.random.default_rng(0)
    config = TopoLossConfig(backend=args.backend)
    for side in args.sizes:
        tubular, label = tubular_likelihood(side, rng)
        noise = rng.random((side, side)).astype(np.float32)
        for name, likelihood in (("tubular", tubular), ("noise", noise)):
            f = (1.0 - likelihood).astype(np.float64)
            ours = median_ms(lambda: persistence_diagrams(f, backend=args.backend), args.repeats)
            gd = median_ms(lambda: gudhi_direct(f), args.repeats)
            cr = median_ms(lambda: cripser.computePH_T(f, maxdim=1), args.repeats) if cripser else float("nan")
            TARGET_CACHE.clear()
            loss = median_ms(lambda: image_loss_and_grad(likelihood, label, config), args.repeats)
            print(f"{name + ' ' + str(side) + 'x' + str(side):>16} {ours:11.1f} {gd:9.1f} {cr:11.1f} {loss:14.1f}"
                  f"   (gudhi/jaxtopo {gd / ours:.2f}x, cripser/jaxtopo {cr / ours:.2f}x)", flush=True)
    batch_timing(args.batch, args.repeats)





def batch_timing(batch: int, repeats: int) -> None:
    """A batch of 300x300 tubular images: one thread against all cores."""
    rng = np.random.default_rng(1)
    pairs = [tubular_likelihood(300, rng) for _ in range(batch)]
    likelihoods = np.stack([p for p, _ in pairs])
    labels = np.stack([t for _, t in pairs])
    config = TopoLossConfig()
    times = {}
    for threads in ("1", str(os.cpu_count())):
        os.environ["JAXTOPO_HOST_THREADS"] = threads
        times[threads] = median_ms(lambda: batch_loss_and_grad(likelihoods, labels, config), repeats)
    os.environ.pop("JAXTOPO_HOST_THREADS")
    one, many = times.values()
    print(f"batch of {batch} tubular 300x300, sat_loss host work: {one:.0f} ms on 1 thread, "
          f"{many:.0f} ms on {os.cpu_count()} threads ({one / many:.2f}x)")


if __name__ == "__main__":
    main()
