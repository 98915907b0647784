"""The GAN toolkit built on minigrad: MNIST data, models, trainers, metrics and pictures.

Import the parts you need (`gan.data`, `gan.metrics`, `gan.plots`, ...). Importing `gan`
itself loads nothing heavy: no dataset is read, matplotlib is imported only by the
functions in `gan.plots` that draw.
"""
