"""Thumbnails, contact sheets and the HTML results page of a search, checked on their pixels.

Videos are written here with OpenCV, one solid colour per stretch of frames, so that every
thumbnail can be found again (by its colour) in a contact sheet or a browser screenshot.
"""
import base64
import html.parser
import io
import os
import os.path as osp
import shutil
import subprocess
import urllib.parse

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mmdret.visualization import render_contact_sheet, video_thumbnails, write_results_html
from mmdret.visualization.search_results import QUERY_BANNER_RGB

RED, GREEN, YELLOW, MAGENTA = (230, 30, 30), (30, 200, 60), (240, 220, 20), (220, 40, 220)
CYAN, ORANGE = (20, 210, 220), (250, 140, 0)
THUMB = (160, 120)


def write_video(path, colours, frames_per_colour=10, size=(128, 96)):
    """An MPEG-4 video: ``frames_per_colour`` frames of each RGB colour in turn."""
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, size)
    assert writer.isOpened()
    for colour in colours:
        for _ in range(frames_per_colour):
            writer.write(np.full((size[1], size[0], 3), colour[::-1], np.uint8))
    writer.release()
    return str(path)


def solid(colour, size=THUMB):
    return np.full((size[1], size[0], 3), colour, np.uint8)


def close(pixel, colour, tol=24):
    return np.abs(np.asarray(pixel, int) - colour).max() <= tol


def colour_regions(image, colour, tol, min_area):
    """Bounding boxes (left, top, width, height) of the blobs of ``colour``, top-left first."""
    mask = np.abs(image.astype(int) - colour).max(axis=2) <= tol
    labels, _ = ndimage.label(mask)
    boxes = []
    for index, (rows, cols) in enumerate(ndimage.find_objects(labels), 1):
        if (labels[rows, cols] == index).sum() >= min_area:
            boxes.append((cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start))
    return sorted(boxes, key=lambda box: (box[1], box[0]))


def read_rgb(path):
    with Image.open(path) as image:
        return np.asarray(image.convert('RGB'))


def test_thumbnails_are_spread_over_the_video_in_order(tmp_path):
    path = write_video(tmp_path / 'four.mp4', [RED, GREEN, YELLOW, MAGENTA])
    frames = video_thumbnails(path, num_frames=4, size=THUMB)
    assert len(frames) == 4
    for frame, colour in zip(frames, [RED, GREEN, YELLOW, MAGENTA]):
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        assert close(frame[60, 80], colour) and close(frame[2, 2], colour)  # 4:3 fills it all
    # 8 of 40 frames (2, 7, 12, ...): the middle of each eighth, two per colour.
    frames = video_thumbnails(path, num_frames=8, size=(64, 48))
    assert len(frames) == 8 and all(frame.shape == (48, 64, 3) for frame in frames)
    assert all(close(frame[24, 32], want) for frame, want in zip(
        frames, [RED, RED, GREEN, GREEN, YELLOW, YELLOW, MAGENTA, MAGENTA]))


def test_a_short_video_gives_all_its_frames(tmp_path):
    path = write_video(tmp_path / 'short.mp4', [RED, GREEN, YELLOW], frames_per_colour=1)
    frames = video_thumbnails(path, num_frames=5)
    assert len(frames) == 3
    assert all(close(frame[60, 80], c, tol=60) for frame, c in zip(frames, (RED, GREEN, YELLOW)))


def test_a_wide_video_is_letterboxed_to_the_exact_size(tmp_path):
    path = write_video(tmp_path / 'wide.mp4', [CYAN], size=(128, 72))
    (frame, ) = video_thumbnails(path, num_frames=1, size=THUMB)
    assert frame.shape == (120, 160, 3)
    coloured_rows = [y for y in range(120) if close(frame[y, 80], CYAN, tol=40)]
    # 128x72 scaled by 1.25 is 160x90: 15 black rows above and below.
    assert 89 <= len(coloured_rows) <= 91 and 14 <= coloured_rows[0] <= 16
    assert (frame[:coloured_rows[0] - 1] == 0).all() and (frame[coloured_rows[-1] + 2:] == 0).all()


def test_undecodable_files_give_no_frames_a_warning_and_no_terminal_noise(tmp_path, capfd):
    good = write_video(tmp_path / 'good.mp4', [RED, GREEN])
    data = open(good, 'rb').read()
    (tmp_path / 'truncated.mp4').write_bytes(data[:len(data) // 2])
    (tmp_path / 'junk.mp4').write_bytes(np.random.RandomState(0).bytes(4000))
    (tmp_path / 'notes.mp4').write_text('not a video\n')
    capfd.readouterr()
    for name in ('truncated.mp4', 'junk.mp4', 'notes.mp4', 'missing.mp4'):
        with pytest.warns(UserWarning, match=f'no preview for .*{name}') as record:
            assert video_thumbnails(str(tmp_path / name)) == []
        if name == 'junk.mp4':  # FFmpeg's own complaint goes into the warning
            assert 'decoder output: ' in str(record[0].message)
    assert capfd.readouterr().err == ''


def test_opencv_decodes_when_decord_cannot(tmp_path, monkeypatch):
    import decord

    def broken_reader(*args, **kwargs):
        raise RuntimeError('decord is broken here')

    monkeypatch.setattr(decord, 'VideoReader', broken_reader)
    path = write_video(tmp_path / 'colours.mp4', [ORANGE, CYAN])
    frames = video_thumbnails(path, num_frames=2, size=THUMB)
    assert len(frames) == 2 and all(frame.shape == (120, 160, 3) for frame in frames)
    assert close(frames[0][60, 80], ORANGE) and close(frames[1][60, 80], CYAN)


def sheet_hits(paths):
    # The third hit's frames are smaller than the thumbnails: they are scaled up to fit.
    frames = [[solid(RED), solid(GREEN), solid(YELLOW)], [solid(MAGENTA)],
              [solid(CYAN, (64, 48)), solid(ORANGE, (64, 48))]]
    return [dict(path=path, rank=i + 1, score=0.9 - 0.2 * i, frames=f)
            for i, (path, f) in enumerate(zip(paths, frames))]


def thumbnail_boxes(image):
    return {colour: colour_regions(image, colour, tol=2, min_area=100)
            for colour in (RED, GREEN, YELLOW, MAGENTA, CYAN, ORANGE)}


def test_contact_sheet_draws_every_frame_at_the_thumbnail_size(tmp_path):
    out = render_contact_sheet('a red car drives past a green tree',
                               sheet_hits(['/v/a.mp4', '/v/b.mp4', '/v/c.mp4']),
                               tmp_path / 'sheets/q0.png', thumb_size=THUMB)
    assert out == str(tmp_path / 'sheets/q0.png')
    image = read_rgb(out)
    height, width = image.shape[:2]
    assert 3 * 160 <= width <= 3 * 160 + 100 and 3 * 120 <= height <= 3 * 120 + 300
    boxes = thumbnail_boxes(image)
    for colour, found in boxes.items():
        assert len(found) == 1, (colour, found)
        left, top, w, h = found[0]
        assert (w, h) == THUMB  # whole and solid: the frame colour fills the box
        assert (np.abs(image[top:top + h, left:left + w].astype(int) - colour) <= 2).all()
    # Frames left to right in time order, hits top to bottom by rank.
    assert boxes[RED][0][0] < boxes[GREEN][0][0] < boxes[YELLOW][0][0]
    assert boxes[RED][0][1] == boxes[YELLOW][0][1] < boxes[MAGENTA][0][1] < boxes[CYAN][0][1]
    assert (image.min(axis=2) > 230).mean() < 0.2  # not mostly white


def text_pixels(image, box):
    left, top, width, height = box
    return int((image[top:top + height, left:left + width].min(axis=2) > 180).sum())


def test_contact_sheet_title_is_the_wrapped_query(tmp_path):
    paths = ['/v/a.mp4', '/v/b.mp4', '/v/c.mp4']
    short = read_rgb(render_contact_sheet('dog', sheet_hits(paths), tmp_path / 'short.png'))
    long_query = 'a man in a blue shirt explains how to repair the chain of a bicycle ' * 3
    long = read_rgb(render_contact_sheet(long_query, sheet_hits(paths), tmp_path / 'long.png'))
    assert long.shape[1] == short.shape[1] and long.shape[0] > short.shape[0] + 40  # wrapped
    top_short, top_long = thumbnail_boxes(short)[RED][0][1], thumbnail_boxes(long)[RED][0][1]
    ink_short = text_pixels(short, (0, 0, short.shape[1], top_short))
    ink_long = text_pixels(long, (0, 0, long.shape[1], top_long))
    assert 20 < ink_short < ink_long / 5


def test_a_long_file_name_does_not_shrink_the_thumbnails(tmp_path):
    short = read_rgb(render_contact_sheet(
        'query', sheet_hits(['a.mp4', 'b.mp4', 'c.mp4']), tmp_path / 'short.png'))
    long_name = '/videos/' + 'an extremely long file name, ' * 12 + 'é.mp4'
    long = read_rgb(render_contact_sheet(
        'query', sheet_hits([long_name, 'b.mp4', long_name]), tmp_path / 'long.png'))
    assert long.shape == short.shape
    assert thumbnail_boxes(long) == thumbnail_boxes(short)
    assert (long != short).any()  # the names are drawn, shortened to the same width


def test_a_hit_without_frames_gets_a_no_preview_placeholder(tmp_path):
    hits = sheet_hits(['a.mp4', 'b.mp4', 'c.mp4'])
    hits[1]['frames'] = []
    image = read_rgb(render_contact_sheet('query', hits, tmp_path / 'sheet.png'))
    red, cyan = thumbnail_boxes(image)[RED][0], thumbnail_boxes(image)[CYAN][0]
    assert not thumbnail_boxes(image)[MAGENTA]
    top = (red[1] + cyan[1]) // 2  # the middle row
    box = image[top:top + 120, red[0]:red[0] + 160].astype(int)
    background = image[1, 1].astype(int)
    assert (np.abs(box - background).max(axis=2) > 8).mean() > 0.9  # a drawn box, not empty
    assert text_pixels(image, (red[0], top, 160, 120)) > 30  # with its "no preview" label


class PageParser(html.parser.HTMLParser):
    """Tags, query headings, images and links of a results page."""

    def __init__(self):
        super().__init__()
        self.tags, self.queries, self.images, self.links = [], [], [], []
        self._heading = self._link = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == 'h2':
            self._heading = ''
        elif tag == 'img':
            self.images.append(attrs['src'])
        elif tag == 'a':
            self._link = [attrs['href'], '']

    def handle_endtag(self, tag):
        if tag == 'h2':
            self.queries.append(self._heading)
            self._heading = None
        elif tag == 'a':
            self.links.append(tuple(self._link))
            self._link = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._link is not None:
            self._link[1] += data


def test_results_page_is_self_contained_and_escaped(tmp_path):
    odd = ['dir with space/vidéo #1 100%.mp4', '日本語/clip?.mp4', 'a&b"<c>\'.mp4']
    paths = [str(tmp_path / name) for name in odd]
    queries = ['<script>alert("x")</script> & a cat', 'a second query']
    hits = [dict(path=path, rank=i + 1, score=0.5 - 0.1 * i, frames=[solid(RED), solid(GREEN)])
            for i, path in enumerate(paths)]
    hits[2]['frames'] = []
    results = [dict(query=queries[0], hits=hits), dict(query=queries[1], hits=hits[:1])]
    out = write_results_html(results, tmp_path / 'page/results.html', thumb_size=(96, 72))
    text = open(out, encoding='utf-8').read()
    page = PageParser()
    page.feed(text)
    assert '<script>' not in text and '&lt;script&gt;' in text
    assert page.queries == queries  # each query once, as its own text
    assert not [tag for tag, _ in page.tags if tag in ('script', 'link', 'iframe', 'object')]
    assert len(page.images) == 2 + 2 + 2 and all(
        src.startswith('data:image/jpeg;base64,') for src in page.images)
    for src in page.images:
        with Image.open(io.BytesIO(base64.b64decode(src.split(',', 1)[1]))) as image:
            assert image.size == (96, 72)
    assert text.count('no preview') == 1
    assert [name for _, name in page.links] == paths + paths[:1]
    for href, name in page.links:
        assert href.startswith('file:///') and href.isascii()
        assert not set(href) & set(' #?"<>&\'')  # all percent-encoded
        assert urllib.parse.unquote(href[len('file://'):]) == osp.abspath(name)


def find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip('no Chromium browser to render the results page: install Debian\'s chromium '
                '(apt-get install chromium; .ci/run does)')


def screenshot(chromium, page, out, tmp_path, size=(1000, 800)):
    command = [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
               '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--hide-scrollbars',
               '--force-device-scale-factor=1', f'--user-data-dir={tmp_path / "profile"}',
               f'--screenshot={out}', f'--window-size={size[0]},{size[1]}',
               'file://' + urllib.parse.quote(osp.abspath(page))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and osp.exists(out), done.stderr[-2000:]
    return read_rgb(out)


def test_results_page_renders_in_chromium(tmp_path):
    chromium = find_chromium()
    videos = [write_video(tmp_path / 'videos/first clip.mp4', [RED, GREEN]),
              write_video(tmp_path / 'videos/second.mp4', [YELLOW, MAGENTA]),
              write_video(tmp_path / 'videos/third.mp4', [CYAN, ORANGE])]
    frames = [video_thumbnails(video, num_frames=2, size=THUMB) for video in videos]

    def results(first, second):
        hits = [dict(path=video, rank=i + 1, score=1.0 - i / 4, frames=f)
                for i, (video, f) in enumerate(zip(videos, frames))]
        return [dict(query=first, hits=hits[:2]), dict(query=second, hits=hits[2:])]

    page = write_results_html(results('a red car <b>then</b> a green field', 'cyan & orange'),
                              tmp_path / 'results.html', thumb_size=THUMB)
    shot = screenshot(chromium, page, tmp_path / 'shot.png', tmp_path)
    assert shot.shape == (800, 1000, 3)
    # Every frame shown once, at the thumbnail size (JPEG-blurred edges allowed).
    for colour in (RED, GREEN, YELLOW, MAGENTA, CYAN, ORANGE):
        boxes = colour_regions(shot, colour, tol=40, min_area=160 * 120 // 2)
        assert len(boxes) == 1, (colour, boxes)
        assert abs(boxes[0][2] - 160) <= 2 and abs(boxes[0][3] - 120) <= 2, (colour, boxes)

    def banner_ink(image):
        """Light pixels inside each query banner (inset past its rounded corners)."""
        banners = colour_regions(image, QUERY_BANNER_RGB, tol=6, min_area=5000)
        assert len(banners) == 2 and banners[0][1] < banners[1][1], banners
        return [text_pixels(image, (left + 5, top + 5, width - 10, height - 10))
                for left, top, width, height in banners]

    # The query text is drawn on its banner; the same page without the queries has none.
    ink = banner_ink(shot)
    blank_page = write_results_html(results('', ''), tmp_path / 'blank.html', thumb_size=THUMB)
    assert banner_ink(screenshot(chromium, blank_page, tmp_path / 'blank.png', tmp_path)) == [0, 0]
    assert ink[0] > ink[1] > 100  # the longer query, escaped and shown as text, has more ink
