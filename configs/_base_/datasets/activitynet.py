# ActivityNet Captions paragraph-to-video retrieval: train.json / val_1.json (+ the CLIP4Clip id
# lists), one paragraph per video, 64 words and 64 frames (official eval command).
_base_ = './paragraph_retrieval.py'

dataset_type = 'ActivityNetRetrievalDataset'
data_root = 'data/activitynet'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        ids_file='annotations/train_ids.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val_1.json',
        ids_file='annotations/val_ids.json'))
test_dataloader = val_dataloader  # val_1 is the test set of the protocol
