# MSR-VTT 9k / 1k-A with the multi-caption test protocol: all 20 captions of each of the 1,000
# test videos (from MSRVTT_data.json) instead of JSFusion's one; t2v ranks each caption, v2t
# ranks each video among the videos, each scored by its best caption (the published protocol:
# the loops' v2t_protocol='video_max', their default).
_base_ = './msrvtt_9k_1ka.py'

val_dataloader = dict(
    dataset=dict(sentences_file='annotations/MSRVTT_data.json', full_test_captions=True))
test_dataloader = val_dataloader
