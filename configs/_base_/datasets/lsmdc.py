# LSMDC (LSMDC16 challenge): training clips (all their sentences), the 1000-clip public test.
# Official tab-separated files; videos <movie>/<clip_id>.avi (LSMDCRetrievalDataset.video_layout).
_base_ = './video_retrieval.py'

dataset_type = 'LSMDCRetrievalDataset'
data_root = 'data/lsmdc'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/LSMDC16_annos_training.csv'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/LSMDC16_challenge_1000_publictect.csv'))
test_dataloader = val_dataloader  # the official code has no LSMDC val loader: val = test
