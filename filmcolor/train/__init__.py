"""Training and fine-tuning of the colorization model (``filmcolor train``)."""
