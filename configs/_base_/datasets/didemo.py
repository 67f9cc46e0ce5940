# DiDeMo paragraph-to-video retrieval: {train,test}_data.json + {train,test}_list.txt, one
# paragraph per video, 64 words and 64 frames; video files named as in the annotations.
_base_ = './paragraph_retrieval.py'

dataset_type = 'DiDeMoRetrievalDataset'
data_root = 'data/didemo'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train_data.json',
        list_file='annotations/train_list.txt'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test_data.json',
        list_file='annotations/test_list.txt'))
test_dataloader = val_dataloader  # the official code validates on the test split
