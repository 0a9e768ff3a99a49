"""Post-processing: colour operations on the predicted chroma and tone operations on the luma.

``adjust.py`` holds the pure colour and tone functions (white balance, hue, saturation,
vibrance, chroma limit; contrast, gamma, CLAHE, unsharp mask) and the streaming luminance
``Deflicker``. ``filters.py`` holds the FFmpeg filter graphs (denoise, deinterlace).
"""
