"""The colorization network (``unet``) and its shipped weights format (``weights``)."""
