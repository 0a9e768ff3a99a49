"""Quality metrics for colorization: PSNR, SSIM, colorfulness and ΔCF on pictures; CDC and
warp error on videos; pairing files to score; ``filmcolor eval``'s runner.

Modules: ``image`` (picture metrics, as torch batches for training and as numpy for files),
``video`` (CDC, warp error, ``TemporalMeter``), ``pairing`` (frames by time, folders by name),
``evaluate`` (``evaluate_paths``, ``evaluate_videos``). Every public name is also here.

Definitions:

- PSNR over all pixels and the three channels, ``10 log10(peak² / MSE)``; ``inf`` for
  identical images (no cap).
- SSIM is Wang et al. 2004: 11×11 Gaussian window with σ = 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) statistics, dynamic range 1, mean over the "valid" part of the SSIM
  map (centres at least 5 px from the border), no downsampling. ``ssim`` works on the BT.601
  luma ``Y' = 0.299 R' + 0.587 G' + 0.114 B'`` of the gamma-encoded RGB; ``ssim_rgb`` is the
  mean of the per-channel SSIMs. These equal skimage's ``structural_similarity`` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1`` (pictures:
  float64; video frames: float32, within 1e-5).
- Colorfulness is Hasler & Süsstrunk 2003 on a 0–255 scale: ``rg = R − G``,
  ``yb = (R + G) / 2 − B``, ``M = σ_rgyb + 0.3 μ_rgyb`` with
  ``σ_rgyb = √(σ_rg² + σ_yb²)`` and ``μ_rgyb = √(μ_rg² + μ_yb²)`` (population σ).
- ΔCF is the mean over images (video: over paired frames) of ``|CF(candidate) − CF(reference)|``.

Temporal metrics (videos; a video is a sequence of ``(H, W, 3)`` RGB frames):

- **CDC**, colour distribution consistency (Liu et al., "Temporally consistent video
  colorization with deep feature propagation and self-regularization learning" (TCVC), 2021;
  also used by BiSTNet and ColorMNet, Yang et al. 2023/2024; as in TCVC's
  ``codes/compute_hist.py`` and ColorMNet's ``evaluation_matrics/cdc.py``, which use
  ``cv2.calcHist`` and ``scipy.stats.entropy``). Per frame and channel, a
  histogram of 256 bins normalised to sum 1. ``JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m)`` with
  ``m = (p + q) / 2`` and the *natural* logarithm (so 0 ≤ JS ≤ ln 2; bins with p = 0 add
  nothing). For each dilation d in (1, 2, 4): the mean over t of the channel-mean
  ``JS(h_t, h_{t+d})``; CDC is the mean over the three dilations (TCVC's weights ⅓ each).
  Lower is more consistent. ``rgb``: the R, G, B channels, 8-bit code values, bin k = value
  k (floats in [0, 1] are rounded to ``round(255 x)`` first). ``chroma``: CIE Lab a and b
  (``filmcolor.color.rgb_to_lab``), 256 bins of width 1 over [-128, 128) (bin
  ``floor(v) + 128``; the sRGB gamut stays inside that range, anything outside is clipped
  into the end bins). A dilation longer than the video is left out of the mean; CDC is
  ``nan`` for a single frame.
- **Warp error** (Lai et al., "Learning blind video temporal consistency", ECCV 2018, as in
  their ``evaluate_WarpError.py``): for each pair of consecutive frames (t−1, t), the
  forward flow F from t−1 to t and the backward flow from t to t−1 are computed on the
  *reference* frames (BT.601 luma, 8 bits); frame t of the video scored is warped into
  t−1 (``Ŝ_t(x) = S_t(x + F(x))``, bilinear) and
  ``E_t = Σ_{x ∈ M, c} (Ŝ_t(x, c) − S_{t−1}(x, c))² / (C · |M|)`` with M the non-occluded
  pixels of ``filmcolor.temporal.flow.valid_flow`` (forward–backward check and motion
  boundaries, Ruder et al. 2016, plus pixels whose flow leaves the picture). The video's
  warp error is the mean of ``E_t`` over the pairs; a pair with no trusted pixel is left out
  (Lai et al. count it as 0). ``rgb``: C = 3, RGB in [0, 1]
  (the papers' scale). ``chroma``: C = 2, Lab ``(a, b) / 100`` (so values are comparable in
  size with the RGB figure). The flow is OpenCV's DIS (Kroeger et al. 2016, preset
  "medium"), which replaces the FlowNet2 of Lai et al.: absolute values therefore differ
  from published tables, rankings computed here are comparable among themselves. (Lai et
  al. compute the flow on the processing's input video; here the colour reference stands in,
  whose luma is the input's. The frames they score are 8-bit JPEGs; ours are the decoded
  8-bit RGB.)
- **The flow's size**: DIS "medium" computes its flow at half the picture's size (its
  finest scale is 1) and brings it back to full size; warping and masking are at full size.
  The flow is not shrunk further: on the bunny sample (1280×720) a flow at a quarter of the
  size raised the RGB warp errors by half (+54 %).
- **Precision**: video frames are scored in float32 with OpenCV and numpy (SSIM, Lab a/b,
  warping; sums in float64) and the flow's luma is OpenCV's fixed-point BT.601. Against the
  earlier float64 torch implementation, on the bunny sample (132 frames): PSNR and
  colourfulness equal, SSIM within 1.4e-6, CDC within 0.05 %, warp errors within 0.13 %.
- Video frames are paired by presentation time, ``pts × time_base`` as exact ``Fraction``s
  rounded to the coarser of the two time bases (a remux into Matroska's 1/1000 moves a
  timestamp by up to half a tick); unpaired frames are counted and left out. The temporal
  metrics run over the paired frames in order. Means over several videos weigh each video
  once, as TCVC's tables do.
- Why chroma as well: filmcolor keeps the source luma, so the luma part of every RGB figure
  is the same for all methods and hides what the colour does; the chroma figures show it.
  The reference's own CDC and warp error (colour that really is consistent, up to motion and
  flow errors) are reported alongside as a floor.
"""

from .evaluate import (
    EvalProgress,
    EvalProgressCallback,
    evaluate_paths,
    evaluate_videos,
    jsonable,
    read_rgb,
    summarize_videos,
)
from .image import (
    METRIC_KEYS,
    SSIM_K1,
    SSIM_K2,
    SSIM_SIGMA,
    SSIM_WINDOW,
    colorfulness,
    colorfulness_batch,
    delta_colorfulness,
    evaluate_pairs,
    image_metrics,
    luma_batch,
    psnr,
    psnr_batch,
    ssim,
    ssim_batch,
    ssim_rgb,
    ssim_rgb_batch,
    summarize,
    to_unit_rgb,
)
from .pairing import folder_kind, input_kind, pair_by_time, pair_folders
from .video import (
    AB_RANGE,
    CDC,
    CDC_BINS,
    CDC_DILATIONS,
    FLOW_PRESET,
    TEMPORAL_KEYS,
    VIDEO_METRIC_KEYS,
    WARP_AB_SCALE,
    PreparedFrame,
    Space,
    TemporalMeter,
    ab_histograms,
    cdc,
    flow_and_mask,
    frame_histograms,
    js_divergence,
    luma_u8,
    rgb_histograms,
    rgb_to_ab,
    video_warp_error,
    warp_error,
)

__all__ = [
    "AB_RANGE",
    "CDC",
    "CDC_BINS",
    "CDC_DILATIONS",
    "FLOW_PRESET",
    "METRIC_KEYS",
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_WINDOW",
    "TEMPORAL_KEYS",
    "VIDEO_METRIC_KEYS",
    "WARP_AB_SCALE",
    "EvalProgress",
    "EvalProgressCallback",
    "PreparedFrame",
    "Space",
    "TemporalMeter",
    "ab_histograms",
    "cdc",
    "colorfulness",
    "colorfulness_batch",
    "delta_colorfulness",
    "evaluate_pairs",
    "evaluate_paths",
    "evaluate_videos",
    "flow_and_mask",
    "folder_kind",
    "frame_histograms",
    "image_metrics",
    "input_kind",
    "js_divergence",
    "jsonable",
    "luma_batch",
    "luma_u8",
    "pair_by_time",
    "pair_folders",
    "psnr",
    "psnr_batch",
    "read_rgb",
    "rgb_histograms",
    "rgb_to_ab",
    "ssim",
    "ssim_batch",
    "ssim_rgb",
    "ssim_rgb_batch",
    "summarize",
    "summarize_videos",
    "to_unit_rgb",
    "video_warp_error",
    "warp_error",
]
