"""Builds the optional native persistence engine; everything else is in pyproject.toml.

The engine is plain C++ with a C ABI, loaded with ctypes (jaxtopo/host/native/__init__.py), so it
needs no Python headers at run time and its calls release the GIL. ``optional=True``: where it
cannot be compiled, installation still succeeds and jaxtopo uses the gudhi backend.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "jaxtopo.host.native._engine",
            sources=[
                "jaxtopo/host/native/persistence.cpp",
                "jaxtopo/host/native/matching.cpp",
                "jaxtopo/host/native/image_loss.cpp",
                "jaxtopo/host/native/betti_matching.cpp",
            ],
            depends=["jaxtopo/host/native/radix_sort.h"],  # rebuild when it changes; ships in the sdist
            language="c++",
            # -fno-math-errno lets the compiler vectorise square roots
            extra_compile_args=["-O3", "-std=c++17", "-fno-math-errno"],
            optional=True,
        )
    ]
)
