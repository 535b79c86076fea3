"""Experiments on skimage's photos, apart from the user CLIs of `deflow.tools`: the camera benchmark (`benchmark`,
its methods in `methods`, its report in `bench_report`, its configs in `confs/`), `deflow_check` (does DeFlow learn
a known degradation?) and `deflow_diagnose` (where does a trained DeFlow model fall short?)."""
