# MSR-VTT: the 7k training split (MSRVTT_train.7k.csv, all captions), 1k-A test.
_base_ = './msrvtt_9k_1ka.py'

train_dataloader = dict(dataset=dict(ann_file='annotations/MSRVTT_train.7k.csv'))
