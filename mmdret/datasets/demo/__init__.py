"""Write a synthetic text-video retrieval dataset in a real one's file formats.

Each video shows ONE object on a black background: a shape (circle, square,
triangle) of one of six colours and one of two sizes that moves left, right,
up or down. Every caption names all four attributes, paraphrased from a few
templates with synonyms, so a caption identifies one attribute combination
(3 x 6 x 2 x 4 = 144 combinations). A tiny CLIP trained from scratch on CPU
learns it in a few minutes.

Design:

* Direction needs frame order. The start position is random and the whole
  path stays in frame, so opposite directions (left/right, up/down) give the
  same distribution of object positions over the clip: one frame, or frames
  pooled without their order, cannot tell left from right; only the frame
  order can.
* The test split is ``test_groups`` (shape, colour, size) groups, each with
  ALL 4 directions. Every test caption then has three distractors that differ
  only in direction, so a direction-blind model reaches at most ~25 R@1
  (on random combinations it would reach ~35, proving nothing about motion).
  Each (shape, colour, size, direction) appears once in test, so every test
  caption matches exactly one test video.

Output (``out_dir``), ``dataset_format='msrvtt'`` (default)::

    videos/<video_id>.mp4        video0, video1, ... (train first)
    annotations/
        MSRVTT_train.9k.csv      header ``video_id``, one train video a row
        MSRVTT_data.json         ``info``, ``videos`` (the attributes as
                                 extra keys) and ``sentences``
        MSRVTT_JSFUSION_test.csv ``key,vid_key,video_id,sentence``, one row
                                 per test video

``dataset_format`` names another dataset: the same videos and captions (the same
seed gives the same clips) are written under that dataset's official video
names and annotation files, the ones its dataset class and its base config
``configs/_base_/datasets/<dataset>.py`` read (``annotations/`` and
``videos/`` under the output folder):

* ``lsmdc``: ``LSMDC16_annos_training.csv`` (one tab-separated row per
  caption) and ``LSMDC16_challenge_1000_publictect.csv`` (one row per test
  clip, its first caption); clips are consecutive pieces of one movie per
  split, ``videos/<movie>/<movie>_<hh.mm.ss.mmm>-<hh.mm.ss.mmm>.avi``.
* ``msvd``: ``train_list.txt``, ``test_list.txt`` and ``raw-captions.pkl``
  (tokenised captions); ``videos/<id>_0_<seconds>.avi``.
* ``vatex``: ``vatex_training_v1.0.json`` / ``vatex_validation_v1.0.json``
  (``videoID``, ``enCap``, an empty ``chCap``) and the split lists
  ``hgr_train_ids.txt`` / ``hgr_test_ids.txt``;
  ``videos/<id>_000000_<seconds>.mp4``.
* ``activitynet``: ``train.json`` / ``val_1.json`` (``duration``, one
  ``timestamps`` pair per sentence, sentences after the first with a leading
  space as in the release) and ``train_ids.json`` / ``val_ids.json``;
  ``videos/v_<id>.mp4``.
* ``didemo``: ``train_data.json`` / ``test_data.json`` (one entry per
  sentence: ``description``, four annotators' ``times`` in 5-second chunks,
  ``video``) and ``train_list.txt`` / ``test_list.txt``;
  ``videos/shapes@N00_<id>.mp4``.
* ``charades``: ``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` (the
  official header; ``script`` is the first caption, ``descriptions`` the
  others joined by ``;``); ``videos/<id>.mp4``.

In the paragraph datasets (ActivityNet, DiDeMo) a video's captions are its
sentences, each given an equal consecutive share of the clip as its moment.

The command line is ``tools/data/make_demo_dataset.py``.
"""

from .annotation_formats import FORMATS
from .generator import make_demo_dataset
from .moving_shapes import (COLOURS_BGR, DIRECTIONS, SHAPES, SIZES, Clip, plan_clips,
                            render_frames)

__all__ = ['FORMATS', 'make_demo_dataset', 'COLOURS_BGR', 'DIRECTIONS', 'SHAPES', 'SIZES',
           'Clip', 'plan_clips', 'render_frames']
