# Charades (as in DITS / X-CoT): Charades_v1_{train,test}.csv, one script per video, .mp4.
_base_ = './video_retrieval.py'

dataset_type = 'CharadesRetrievalDataset'
data_root = 'data/charades'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/Charades_v1_train.csv'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/Charades_v1_test.csv'))
test_dataloader = val_dataloader
