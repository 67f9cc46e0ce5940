# Stage 1 on the MSR-VTT 7k training split (1k-A test); otherwise the 9k paper recipe.
_base_ = './diffusionret_stage1_vit-b-32_4xb32-5e_msrvtt-9k.py'

train_dataloader = dict(dataset=dict(ann_file='annotations/MSRVTT_train.7k.csv'))
