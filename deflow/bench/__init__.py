"""Experiments on skimage's photos, apart from the user CLIs of `deflow.tools`: the camera benchmark (`benchmark`,
its methods in `methods`, its report in `bench_report`, its configs in `confs/`), `deflow_check` (does DeFlow learn
a known degradation?), `deflow_diagnose` (where does a trained DeFlow model fall short?) and `bench_speed` (how close
do training and inference come to the machine's peak?)."""
