"""Pixel-loss SR: `SRModel`, any registered SR network trained with L1, MSE or Charbonnier on LQ/GT pairs."""
