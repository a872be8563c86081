"""Parameter recovery: datasets, fitting, evaluation, identifiability and studies (serial or on Dask).

    from differential_dynamics.fit import Compressor, fit, evaluate
    model = Compressor(fs=44100)
    result = fit(model, x_train, gain_db_train)            # or fit(..., y_train, target_kind="audio")
    report = evaluate(model, result, x_test, gain_test=gain_db_test, true=theta)

Modules: models (the learnable models), probes (seeded probe signals), dataset (builder and loader),
fitting (fit), evaluate (metrics, reports, plots), identify (identifiability), tasks (Dask), study
(recovery studies). Command line: python -m differential_dynamics.fit {dataset,evaluate,study} --help.
Reference: docs/recovery.md.
"""
from .models import SSL, Compressor, Limiter, Model, make_model, teacher
from .fitting import FitResult, SecondOrderUnsupported, fit, observed_gain_db
from .evaluate import esr, evaluate, gain_rmse_db, plot_fit, ssl_combinations, write_report
from .identify import identifiability
from .dataset import DatasetSettings, build_dataset, load_permutation
from .probes import probe_mix

__all__ = ["Model", "Compressor", "Limiter", "SSL", "make_model", "teacher", "fit", "FitResult",
           "SecondOrderUnsupported", "observed_gain_db", "evaluate", "gain_rmse_db", "esr", "ssl_combinations",
           "plot_fit", "write_report", "identifiability", "DatasetSettings", "build_dataset", "load_permutation",
           "probe_mix"]
