# MSVD: 1,200 training videos (every caption a pair), 670 test videos with all their captions
# (multi-caption evaluation). CLIP4Clip files: {train,test}_list.txt + raw-captions.pkl, .avi.
# Video-to-text ranks each video among the videos, each scored by its best caption (the
# published protocol: the loops' v2t_protocol='video_max', their default).
_base_ = './video_retrieval.py'

dataset_type = 'MSVDRetrievalDataset'
data_root = 'data/msvd'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train_list.txt',
        captions_file='annotations/raw-captions.pkl'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test_list.txt',
        captions_file='annotations/raw-captions.pkl'))
test_dataloader = val_dataloader  # the official code validates on the test split
