"""Vision benchmarks: ISBI 2012 segmentation (U-Net vs UNet++) and classification on real images."""
