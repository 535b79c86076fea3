# make test : create .venv if missing, run the test suite
# make demo : create .venv if missing, run the whole pipeline on skimage's photos on the CPU, write a report
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo_out
DATA := $(DEMO)/data
CLEAN_PHOTOS := astronaut coffee rocket immunohistochemistry
REAL_PHOTOS := hubble_deep_field motorcycle_left retina
TEST_PHOTOS := chelsea motorcycle_right
DEFLOW_ITERS ?= 800
SR_ITERS ?= 600
# network_g.h of confs/cpu/deflow-tiny.yml: the h its conditioning images are made with
DEFLOW_H := chroma_blur_noise
DEFLOW_CKPT := $(DEMO)/experiments/deflow/checkpoints/iter_$(shell printf %08d $(DEFLOW_ITERS)).pth
SR_CKPT := $(DEMO)/experiments/sr/checkpoints/iter_$(shell printf %08d $(SR_ITERS)).pth

.PHONY: test demo venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

test: venv
	$(PY) -m pytest tests

# ---- the demo: every step is a command a user can run alone; finished steps are reused
$(DEMO)/photos/.done: | venv
	$(PY) scripts/sample_photos.py --out $(DEMO)/photos/clean --names $(CLEAN_PHOTOS)
	$(PY) scripts/sample_photos.py --out $(DEMO)/photos/real --names $(REAL_PHOTOS)
	$(PY) scripts/sample_photos.py --out $(DEMO)/photos/test --names $(TEST_PHOTOS)
	touch $@

# the "real camera" (confs/cpu/demo-camera.yaml) makes the unpaired real LR photos and the test pairs
$(DATA)/.done: $(DEMO)/photos/.done confs/cpu/demo-camera.yaml
	$(PY) scripts/degrade.py --pipeline confs/cpu/demo-camera.yaml --input $(DEMO)/photos/real --out $(DEMO)/photos/real_lr --scale 2 --seed 1
	$(PY) scripts/create_dataset.py -source $(DEMO)/photos/test -target $(DATA)/test -scales 1 2
	$(PY) scripts/degrade.py --pipeline confs/cpu/demo-camera.yaml --input $(DATA)/test/1x --out $(DATA)/test/real_lr --scale 2 --seed 2
	$(PY) scripts/create_dataset.py -source $(DEMO)/photos/clean -target $(DATA)/clean -scales 1 2 -multiple 8
	$(PY) scripts/create_dataset.py -source $(DATA)/clean/2x -target $(DATA)/clean/h -scales 4 --h $(DEFLOW_H)
	$(PY) scripts/create_dataset.py -source $(DEMO)/photos/real_lr -target $(DATA)/real -scales 1 4 --h $(DEFLOW_H)
	touch $@

$(DEFLOW_CKPT): $(DATA)/.done
	$(PY) -m deflow.train -opt confs/cpu/deflow-tiny.yml --resume auto --set train.total_iter=$(DEFLOW_ITERS) \
		--set path.experiments_root=$(DEMO)/experiments/deflow

$(DATA)/clean/.translated: $(DEFLOW_CKPT)
	$(PY) scripts/translate.py --model_path $(DEFLOW_CKPT) --source_dir $(DATA)/clean/2x --out_dir $(DATA)/clean/2x_deflow --seed 0 \
		--noise-floor --real $(DATA)/real/1x
	touch $@

$(SR_CKPT): $(DATA)/clean/.translated
	$(PY) -m deflow.train -opt confs/cpu/sr-rrdb-x2.yml --resume auto --set train.total_iter=$(SR_ITERS) \
		--set path.experiments_root=$(DEMO)/experiments/sr

# how close DeFlow's translations are to the real LR photos (no pairs): noise-level curves, spectra, C2ST
$(DEMO)/realism/realism.html: $(DATA)/clean/.translated
	$(PY) -m metrics.realism --real $(DATA)/real/1x --synthetic $(DATA)/clean/2x_deflow $(DATA)/clean/2x \
		--out $(DEMO)/realism --patches 256 --steps 100

# the report: the pipeline's two pages, linked from one index
demo: $(SR_CKPT) $(DEMO)/realism/realism.html
	$(PY) scripts/test_sr.py --model_path $(SR_CKPT) --input $(DATA)/test/real_lr --gt $(DATA)/test/1x --out $(DEMO)/report
	@printf '%s\n' '<!DOCTYPE html><html><head><meta charset="utf-8"><title>deflow demo</title></head><body>' \
		'<h1>deflow demo</h1><ol>' \
		'<li><a href="realism/realism.html">Degradation learned by DeFlow</a>: real LR crops beside DeFlow-translated' \
		'crops of clean photos, noise-level curves and residual spectra against the real photos</li>' \
		'<li><a href="report/report.html">SR trained on the translated pairs</a>, on real LR test photos: scores,' \
		'LR | bicubic | SR | GT with zoomed crops</li></ol></body></html>' > $(DEMO)/index.html
	@echo "demo report: $(DEMO)/index.html (realism: $(DEMO)/realism/realism.html, SR: $(DEMO)/report/report.html)"

clean:
	rm -rf $(DEMO)
