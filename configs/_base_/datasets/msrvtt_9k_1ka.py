# MSR-VTT: 9k training videos (all captions), 1k-A test (JSFusion), official file formats.
_base_ = './video_retrieval.py'

dataset_type = 'MSRVTTRetrievalDataset'
data_root = 'data/msrvtt'

train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/MSRVTT_train.9k.csv',
        sentences_file='annotations/MSRVTT_data.json'))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/MSRVTT_JSFUSION_test.csv'))
test_dataloader = val_dataloader
