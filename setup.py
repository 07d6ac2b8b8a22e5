"""The one compiled part: calmopsd/sense/logs/_scan.c (why: docs/decisions.md, "a compiled
log scanner"). Optional: without a C compiler the package installs and counts in Python."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "calmopsd.sense.logs._scan",
            ["calmopsd/sense/logs/_scan.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit"],
            optional=True,
        )
    ]
)
