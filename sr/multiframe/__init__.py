"""Classical multi-frame super-resolution and a hybrid (`BurstFusionModel`, `BurstHybridModel`).

A burst is (T, 3, h, w) (batched: (N, T, 3, h, w)); frame 0 is the reference whose pixel grid the output shares.
`synth` makes bursts from still photos, `registration` finds where every frame's pixels lie on the reference's
grid, `fusion` puts them on the `scale`x grid (shift-and-add, back-projection, Farsiu's L1 + bilateral TV), `archs`
wraps the fusions as parameter-free networks and holds the hybrid's learned refiner.
"""
