# make test  : create .venv if missing, run the test suite
# make demo  : create .venv if missing, run the CPU demo (trains confs/cpu/sr-rrdb-x2.yml on skimage photos)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo_out
TRAIN_PHOTOS := astronaut coffee rocket hubble_deep_field immunohistochemistry motorcycle_left
VAL_PHOTOS := chelsea motorcycle_right

.PHONY: test demo demo-data venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

test: venv
	$(PY) -m pytest tests

demo-data: venv
	$(PY) scripts/sample_photos.py --out $(DEMO)/photos/sr_train --names $(TRAIN_PHOTOS)
	$(PY) scripts/sample_photos.py --out $(DEMO)/photos/sr_val --names $(VAL_PHOTOS)
	$(PY) scripts/create_dataset.py -source $(DEMO)/photos/sr_train -target $(DEMO)/data/sr_train -scales 1 2
	$(PY) scripts/create_dataset.py -source $(DEMO)/photos/sr_val -target $(DEMO)/data/sr_val -scales 1 2

demo: demo-data
	$(PY) -m deflow.train -opt confs/cpu/sr-rrdb-x2.yml --set path.experiments_root=$(DEMO)/experiments/sr_rrdb_x2 --resume auto
	@echo "demo outputs: $(DEMO)/experiments/sr_rrdb_x2 (train.log, checkpoints/, tb/ for tensorboard)"

clean:
	rm -rf $(DEMO) experiments
