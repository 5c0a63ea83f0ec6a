"""The activation cube: model x layer x neuron x dimension x polarity, over zarr."""
