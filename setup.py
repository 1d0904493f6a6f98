"""Builds wstool's optional C accelerator; everything else is in pyproject.toml.

The extension is ``optional``: where no compiler exists the build goes on and
wstool uses its pure-Python masking, echo, upgrade request check, read loop,
bench batches, hex view and session records, which the tests always check as
well.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wstool.core._speedups",
            sources=["wstool/core/_speedups.c"],
            depends=["wstool/core/_xor_mask.h", "wstool/core/_echo_scan.h"],
            optional=True,
        ),
        Extension(
            "wstool.core._quickhead",
            sources=["wstool/core/_quickhead.c"],
            optional=True,
        ),
        Extension(
            "wstool.net._echoloop",
            sources=["wstool/net/_echoloop.c"],
            depends=["wstool/core/_xor_mask.h", "wstool/core/_echo_scan.h"],
            optional=True,
        ),
        Extension(
            "wstool.ui._hexview",
            sources=["wstool/ui/_hexview.c"],
            optional=True,
        ),
        Extension(
            "wstool.bench._batch",
            sources=[
                "wstool/bench/_batch.c",
                "wstool/bench/_hook.c",
                "wstool/bench/_large.c",
                "wstool/bench/_pump.c",
            ],
            depends=["wstool/bench/_batch.h"],
            optional=True,
        ),
        Extension(
            "wstool.session._records",
            sources=["wstool/session/_records.c"],
            depends=["wstool/core/_xor_mask.h"],
            optional=True,
        ),
    ]
)
