"""worldclass: deep learning on Earth-observation imagery, from the official archives to models, maps,
GIS layers and searchable archives.

Packages and the direction of imports (a package imports only those listed for it; checked by
``tests/test_layering.py``)::

    errors, compat   <- nothing of ours
    io               <- errors                       (atomic writes; every package may use it)
    registry         <- errors                       (things found by name)
    config           <- errors                       (parser + the sections every task shares)
    data             <- config, registry, errors, compat (sensors, readers, store, transforms, samplers)
    datasets         <- data, config, registry, errors (one module per dataset)
    metrics, losses  <- data (nomenclature), errors
    models           <- data, registry, errors, compat (nn.Modules, load_model)
    report           <- io                           (HTML + plots of plain results)
    mapping          <- models, data, datasets, metrics, report, registry, errors, compat
    retrieval        <- models, data, datasets, metrics, mapping, report, errors, compat
    tasks            <- all of the above              (one package per task)
    training         <- tasks and all of the above    (loops that run any task)
    cli, demo        <- everything; nothing imports them (cli runs the demo command)

Lightning is imported only by ``tasks``, ``training`` and ``data.datamodule``: ``models.load_model``,
``mapping`` and ``retrieval`` (map, embed, search, serve) work without it.
"""

__version__ = "0.1.0"
