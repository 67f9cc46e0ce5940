"""Write a synthetic text-video retrieval dataset (moving coloured shapes) in a real
dataset's file formats; the generator is :mod:`mmdret.datasets.demo`.

Example::

    python tools/data/make_demo_dataset.py --out-dir data/demo_msrvtt --seed 0
    python tools/data/make_demo_dataset.py --format didemo  # data/demo_didemo
"""
import argparse

from mmdret.datasets.demo import FORMATS, make_demo_dataset


def parse_args(argv=None) -> argparse.Namespace:
    """The command line.

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
    """
    parser = argparse.ArgumentParser(
        description='Write a synthetic moving-shape text-video retrieval '
        'dataset in the file formats of a real dataset.')
    parser.add_argument('--out-dir', default=None,
                        help='defaults to data/demo_<format>')
    parser.add_argument(
        '--format', choices=list(FORMATS), default='msrvtt',
        help='the dataset whose video names and annotation files are written')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--train-per-combination', type=int, default=12,
        help='train videos per (shape, colour, size, direction)')
    parser.add_argument('--captions-per-video', type=int, default=5)
    parser.add_argument(
        '--test-groups', type=int, default=25,
        help='(shape, colour, size) groups in test, each with 4 directions')
    parser.add_argument('--size', type=int, default=64,
                        help='frame width and height in pixels')
    parser.add_argument('--fps', type=float, default=2)
    parser.add_argument('--num-frames', type=int, default=24)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Write the demo dataset; returns the summary of :func:`make_demo_dataset`.

    Args:
        argv (list[str], optional): command-line arguments; None reads ``sys.argv``.
    """
    args = parse_args(argv)
    summary = make_demo_dataset(
        args.out_dir or f'data/demo_{args.format}',
        seed=args.seed,
        train_per_combination=args.train_per_combination,
        captions_per_video=args.captions_per_video,
        test_groups=args.test_groups,
        size=args.size,
        fps=args.fps,
        num_frames=args.num_frames,
        dataset_format=args.format)
    print(f"Wrote {summary['num_train']} train and {summary['num_test']} test "
          f"videos with {summary['num_sentences']} captions to "
          f"{summary['out_dir']} in {summary['seconds']:.1f} s")
    return summary


if __name__ == '__main__':
    main()
