"""Super-resolution model families: the L1-trained SR model now; ESRGAN GAN stage, DASR and multi-frame SR later."""
