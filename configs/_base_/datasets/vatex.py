# VATEX (English captions), the HGR split used by DITS: 25,991 training videos; 1,500 test videos
# drawn from the official validation set. The split lists (one videoID per line) come with HGR,
# not with VATEX: put them in annotations/ under these names. Test is multi-caption (10 each):
# video-to-text ranks each video among the videos, each scored by its best caption (the
# published protocol: the loops' v2t_protocol='video_max', their default).
_base_ = './video_retrieval.py'

dataset_type = 'VATEXRetrievalDataset'
data_root = 'data/vatex'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/vatex_training_v1.0.json',
        split_file='annotations/hgr_train_ids.txt'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/vatex_validation_v1.0.json',
        split_file='annotations/hgr_test_ids.txt'))
test_dataloader = val_dataloader
