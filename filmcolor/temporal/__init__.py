"""Temporal stage: shot cuts, optical flow on the luma, and the chroma smoother."""
