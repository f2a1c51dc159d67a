"""Data sets and searches over energy-community models, run on dask.distributed.

- :mod:`~qgridlang.datasets.prices`: the price set (bounds and mean price), its projection, the
  sampling rule of training prices and the time-of-use family of the price search;
- :mod:`~qgridlang.datasets.substitute`: give a model's indexed parameter new values;
- :mod:`~qgridlang.datasets.response`: a community model ready to solve price vectors;
- :mod:`~qgridlang.datasets.sample`: ``qglc sample-responses``;
- :mod:`~qgridlang.datasets.search`: ``qglc price-search``;
- :mod:`~qgridlang.datasets.cluster` and :mod:`~qgridlang.datasets.store`: running on dask,
  saving as results complete, resuming.
"""
