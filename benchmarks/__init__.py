"""mylib's benchmark harness (issue 6): ``python -m benchmarks [--quick] [--only CELLS]``.

Modules: ``cells`` (what is measured), ``server`` (nginx or the aiohttp fallback), ``worker``
(one measurement per fresh process), ``variants``/``fresh``/``bridge`` (the clients), ``measure``
(timing loops), ``report`` (medians, paired ratios, markdown).  See benchmarks/README.md.
"""
