"""ESRGAN (Wang et al., ECCV Workshops 2018) on deflow's model contract: `ESRGANModel` (model.py) trains RRDBNet
(deflow/archs/rrdbnet.py) against a discriminator (discriminators.py) with pixel, perceptual (perceptual_loss.py)
and GAN (gan_loss.py) losses, BasicSR's option and state_dict vocabulary throughout. Stage 1, PSNR-oriented, is
`SRModel` (sr/pixel) with a pixel loss; stage 2 starts from it through `path.pretrain_network_g`."""
