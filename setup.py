"""The one compiled part of the workbench: calibration's histogram kernel (workbench/precision/histogram_kernel.c,
which says why it is C). Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and calibration counts with numpy (the same counts, slower)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "workbench.precision.histogram_kernel",
            ["workbench/precision/histogram_kernel.c"],
            optional=True,
        )
    ]
)
