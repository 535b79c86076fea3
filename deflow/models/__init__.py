"""The model contract every family implements (`base.py`) and building a model for inference (`loading.py`).

Model types live in their family folders (`deflow/flow/deflow_model.py`, `sr/<family>/`)."""
