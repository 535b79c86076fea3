"""DASR, blind SR by unsupervised degradation representation learning (Wang et al., CVPR 2021; official code
github.com/LongguangWang/DASR): a contrastive degradation encoder (encoder.py) trained with MoCo (moco.py, a generic
head other models may use), whose representation conditions the SR network (dasr_arch.py) through
degradation-aware convolutions (da_conv.py). `DASRModel` and its baseline `BlindSRModel` (model.py) degrade HR crops
online (degrade.py) from pairs of patches (dataset.py); probe.py holds the kNN probe and 2-D embeddings of the
representation."""
