# MSR-VTT 9k / 1k-A with the multi-caption test protocol: all 20 captions of each of the 1,000
# test videos (from MSRVTT_data.json) instead of JSFusion's one; t2v ranks each caption, v2t
# counts a video at the best rank of any of its captions.
_base_ = './msrvtt_9k_1ka.py'

val_dataloader = dict(
    dataset=dict(sentences_file='annotations/MSRVTT_data.json', full_test_captions=True))
test_dataloader = val_dataloader
