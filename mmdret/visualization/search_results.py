"""What a search shows: video thumbnails, a contact sheet per query and an HTML results page.

* :func:`video_thumbnails`: a few frames spread over a video, letterboxed to one size; an
  undecodable file gives ``[]`` and a warning (with the decoder's own messages), never an error.
* :func:`render_contact_sheet`: one PNG per query: the query as the title, one row per hit with
  fixed-size thumbnails, rank, score and the (shortened) file name under them.
* :func:`write_results_html`: one self-contained HTML page (thumbnails inlined as data URIs)
  with every query and its hits, each file path a ``file://`` link.
* :func:`capture_native_stderr`: collects what native libraries (FFmpeg, decord) write to the
  process's stderr, so that it can go into a warning instead of onto the terminal.

A hit is ``dict(path=str, rank=int, score=float, frames=[HxWx3 uint8 RGB arrays])``, ``rank``
1-based; ``frames`` may be empty (drawn as a "no preview" placeholder).
"""
import base64
import contextlib
import html
import io
import os
import os.path as osp
import pathlib
import sys
import tempfile
import types
import warnings

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Solid colour behind each query in the HTML page (screenshots locate the query text by it).
QUERY_BANNER_RGB = (24, 78, 160)

_SHEET_BACKGROUND = (30, 32, 37)
_SHEET_TITLE = (255, 255, 255)
_SHEET_CAPTION = (228, 230, 235)
_SHEET_NAME = (165, 170, 180)
_PLACEHOLDER_FILL = (62, 64, 72)
_PLACEHOLDER_LINE = (150, 152, 162)
_MARGIN, _GAP = 16, 6
_MIN_SHEET_WIDTH = 420  # room for a readable title even with one small thumbnail


@contextlib.contextmanager
def capture_native_stderr():
    """Redirect file descriptor 2 into a temporary file for the duration of the block.

    Native decoders print straight to the process's stderr, past ``sys.stderr``. The redirect
    is process-wide: whatever other threads write to stderr meanwhile is captured too. Where
    descriptor 2 cannot be duplicated, nothing is captured.

    Yields:
        types.SimpleNamespace: its ``text`` holds the captured output (stripped) once the
        block has ended.
    """
    captured = types.SimpleNamespace(text='')
    try:
        saved = os.dup(2)
    except OSError:
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode('utf-8', 'replace').strip()


def _check_size(size, name):
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size)):
        raise ValueError(f'{name} must be (width, height) in pixels, two positive integers; '
                         f'got {size!r}')
    return int(size[0]), int(size[1])


def _uniform_indices(num_frames_in_video, num_frames):
    """The middle frame of each of ``num_frames`` equal parts (fewer for a shorter video)."""
    return sorted({int((i + 0.5) * num_frames_in_video / num_frames) for i in range(num_frames)})


def _decode_decord(path, num_frames):
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    if len(reader) == 0:
        return []
    return list(reader.get_batch(_uniform_indices(len(reader), num_frames)).asnumpy())


def _decode_opencv(path, num_frames):
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise RuntimeError('OpenCV cannot open the file')
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # the container does not say: count by reading, then start over
            while capture.grab():
                count += 1
            capture.release()
            capture = cv2.VideoCapture(path)
        frames = []
        for index in _uniform_indices(count, num_frames) if count > 0 else []:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if ok:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        return frames
    finally:
        capture.release()


def _one_line(text, limit=300):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _letterbox(frame, size):
    """``frame`` scaled to fit ``size`` (W, H) with its aspect ratio kept, black bars around."""
    width, height = size
    frame_h, frame_w = frame.shape[:2]
    scale = min(width / frame_w, height / frame_h)
    new_w = min(width, max(1, round(frame_w * scale)))
    new_h = min(height, max(1, round(frame_h * scale)))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = np.asarray(
        Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.BILINEAR))
    return canvas


def video_thumbnails(path, num_frames=4, size=(160, 120)):
    """Frames spread uniformly over a video, each letterboxed to exactly ``size``.

    The middle frame of each of ``num_frames`` equal parts of the video is decoded with decord,
    or with OpenCV where decord fails. A file that neither can decode gives ``[]`` and a
    warning naming the file, with the decoders' errors and what they printed (which does not
    reach the terminal).

    Args:
        path (str): the video file.
        num_frames (int): frames wanted; a video with fewer frames gives all of its frames.
            Defaults to 4.
        size (tuple[int, int]): (width, height) of each thumbnail. Defaults to (160, 120).

    Returns:
        list[ndarray]: up to ``num_frames`` HxWx3 uint8 RGB arrays (H, W from ``size``), in
        time order; ``[]`` when the file cannot be decoded.
    """
    size = _check_size(size, 'size')
    if not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ValueError(f'num_frames must be a positive integer, got {num_frames!r}')
    path = os.fspath(path)
    errors, frames = [], []
    with capture_native_stderr() as noise:
        for name, decode in (('decord', _decode_decord), ('OpenCV', _decode_opencv)):
            try:
                frames = decode(path, num_frames)
            except Exception as error:  # decord raises its own types and RuntimeError
                errors.append(f'{name}: {type(error).__name__}: {_one_line(error)}')
                continue
            if frames:
                break
            errors.append(f'{name}: no frames')
    if not frames:
        said = f'; decoder output: {_one_line(noise.text, 500)}' if noise.text else ''
        warnings.warn(f'no preview for {path!r}: {"; ".join(errors)}{said}', stacklevel=2)
        return []
    return [_letterbox(np.ascontiguousarray(frame[..., :3]), size) for frame in frames]


def _rgb_frame(frame, where):
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or 0 in frame.shape:
        raise ValueError(f'{where} must be an HxWx3 uint8 RGB array, got shape '
                         f'{frame.shape} and dtype {frame.dtype}')
    return frame


def _check_hits(hits, where):
    """Each hit as (path, rank, score, frames), with a clear error for a malformed one."""
    checked = []
    for i, hit in enumerate(hits):
        missing = [key for key in ('path', 'rank', 'score', 'frames')
                   if not isinstance(hit, dict) or key not in hit]
        if missing:
            raise ValueError(f'hit {i} of {where} lacks {missing}; each hit is dict(path=str, '
                             f'rank=int, score=float, frames=[HxWx3 uint8 RGB arrays])')
        frames = [_rgb_frame(frame, f'frame {j} of hit {i} of {where}')
                  for j, frame in enumerate(hit['frames'])]
        checked.append((os.fspath(hit['path']), int(hit['rank']), float(hit['score']), frames))
    return checked


def _printable(path):
    """``path`` as text that can be drawn and encoded (undecodable bytes become U+FFFD)."""
    return os.fsencode(path).decode('utf-8', 'replace')


def _font(size, bold=False):
    """DejaVu Sans, which matplotlib ships (so it is there wherever mmdret is), else PIL's."""
    import matplotlib
    name = 'DejaVuSans-Bold.ttf' if bold else 'DejaVuSans.ttf'
    try:
        return ImageFont.truetype(osp.join(matplotlib.get_data_path(), 'fonts', 'ttf', name),
                                  size)
    except OSError:
        return ImageFont.load_default(size)


def _wrap(text, font, width):
    """Lines of ``text`` no wider than ``width`` pixels; words too long are split."""
    lines = []
    for paragraph in text.splitlines() or ['']:
        line = ''
        for word in paragraph.split():
            candidate = f'{line} {word}' if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ''
            for char in word:
                if line and font.getlength(line + char) > width:
                    lines.append(line)
                    line = ''
                line += char
        lines.append(line)
    return lines


def _ellipsize(text, font, width):
    """``text`` shortened in the middle (keeping its start and its extension) to fit."""
    if font.getlength(text) <= width:
        return text
    head, tail = text[:len(text) // 2], text[len(text) // 2:]
    while head or tail:
        if len(head) >= len(tail):
            head = head[:-1]
        else:
            tail = tail[1:]
        if font.getlength(f'{head}…{tail}') <= width:
            break
    return f'{head}…{tail}'


def _draw_placeholder(draw, box, font):
    left, top, right, bottom = box
    draw.rectangle(box, fill=_PLACEHOLDER_FILL, outline=_PLACEHOLDER_LINE, width=2)
    draw.line((left, top, right, bottom), fill=_PLACEHOLDER_LINE, width=1)
    draw.line((left, bottom, right, top), fill=_PLACEHOLDER_LINE, width=1)
    centre = ((left + right) / 2, (top + bottom) / 2)
    label_box = draw.textbbox(centre, 'no preview', font=font, anchor='mm')
    draw.rectangle((label_box[0] - 4, label_box[1] - 3, label_box[2] + 4, label_box[3] + 3),
                   fill=_PLACEHOLDER_FILL)
    draw.text(centre, 'no preview', font=font, fill=_SHEET_CAPTION, anchor='mm')


def render_contact_sheet(query, hits, out_file, thumb_size=(160, 120)):
    """Draw one query's hits as a PNG: the query as the title, then one row per hit.

    Each row is the hit's frames as a strip of thumbnails of exactly ``thumb_size`` (a hit
    without frames gets a "no preview" placeholder of that size), with the rank and score and
    then the file name under it; a long name is shortened in the middle, never shrinking the
    thumbnails. The sheet is as wide as the longest strip (at least 420 px) and the title is
    wrapped to that width.

    Args:
        query (str): the query text.
        hits (list[dict]): best first, each ``dict(path=str, rank=int, score=float,
            frames=[HxWx3 uint8 RGB arrays])``; frames of another size are letterboxed.
        out_file (str): the PNG to write (folders are created).
        thumb_size (tuple[int, int]): (width, height) of a thumbnail. Defaults to (160, 120).

    Returns:
        str: ``out_file``.
    """
    thumb_w, thumb_h = _check_size(thumb_size, 'thumb_size')
    hits = _check_hits(hits, f'query {query!r}')
    title_font, caption_font, name_font = _font(22, bold=True), _font(15, bold=True), _font(14)
    columns = max([1] + [len(frames) for _, _, _, frames in hits])
    inner_w = max(columns * thumb_w + (columns - 1) * _GAP, _MIN_SHEET_WIDTH)
    title_lines = _wrap(str(query) or '(empty query)', title_font, inner_w)
    title_step, caption_step, name_step, row_gap = 28, 20, 18, 14
    row_h = thumb_h + 6 + caption_step + name_step + row_gap
    title_h = len(title_lines) * title_step + 12
    body_h = row_h * len(hits) - row_gap if hits else caption_step
    image = Image.new('RGB', (inner_w + 2 * _MARGIN, _MARGIN + title_h + body_h + _MARGIN),
                      _SHEET_BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = _MARGIN
    for line in title_lines:
        draw.text((_MARGIN, y), line, font=title_font, fill=_SHEET_TITLE)
        y += title_step
    y += 12
    if not hits:
        draw.text((_MARGIN, y), 'no results', font=caption_font, fill=_SHEET_NAME)
    for path, rank, score, frames in hits:
        for column, frame in enumerate(frames):
            image.paste(Image.fromarray(_letterbox(frame, (thumb_w, thumb_h))),
                        (_MARGIN + column * (thumb_w + _GAP), y))
        if not frames:
            _draw_placeholder(draw, (_MARGIN, y, _MARGIN + thumb_w - 1, y + thumb_h - 1),
                              name_font)
        y += thumb_h + 6
        draw.text((_MARGIN, y), f'#{rank}   score {score:.4f}', font=caption_font,
                  fill=_SHEET_CAPTION)
        draw.text((_MARGIN, y + caption_step),
                  _ellipsize(osp.basename(_printable(path)) or _printable(path), name_font,
                             inner_w), font=name_font, fill=_SHEET_NAME)
        y += row_h - thumb_h - 6
    out_file = os.fspath(out_file)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    image.save(out_file, format='PNG')
    return out_file


def _data_uri(frame, quality=85):
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format='JPEG', quality=quality)
    return 'data:image/jpeg;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')


def _file_uri(path):
    """A ``file://`` URI of ``path`` made absolute, every unsafe byte percent-encoded."""
    return pathlib.Path(osp.abspath(path)).as_uri()


_PAGE_STYLE = """
body {{ margin: 0; padding: 16px 24px; background: #eceef2; color: #1d2127;
       font: 15px/1.4 "DejaVu Sans", Arial, sans-serif; }}
h1 {{ font-size: 20px; margin: 0 0 14px; }}
section.query {{ margin: 0 0 24px; background: #ffffff; border-radius: 4px; }}
h2.query-text {{ margin: 0; padding: 10px 14px; background: rgb({banner});
                 color: #ffffff; font-size: 22px; border-radius: 4px 4px 0 0;
                 overflow-wrap: anywhere; white-space: pre-wrap; }}
p.count {{ margin: 0; padding: 6px 14px 0; color: #5a606b; font-size: 13px; }}
ol.hits {{ list-style: none; margin: 0; padding: 10px 14px 14px; display: flex;
           flex-wrap: wrap; gap: 14px 22px; }}
li.hit {{ flex: none; }}
.strip {{ display: flex; gap: 4px; }}
.strip img {{ flex: none; display: block; width: {w}px; height: {h}px; }}
.no-preview {{ flex: none; box-sizing: border-box; width: {w}px; height: {h}px;
               display: flex; align-items: center; justify-content: center;
               background: #3e4048; color: #e4e6eb; border: 2px dashed #9698a2;
               font-size: 13px; }}
.meta {{ margin-top: 4px; }}
.rank {{ font-weight: bold; margin-right: 10px; }}
a.path {{ display: block; font-size: 13px; color: #0b57d0; overflow-wrap: anywhere; }}
"""


def write_results_html(results, out_file, thumb_size=(160, 120)):
    """Write one self-contained HTML page with every query and its hits.

    Each query is a section headed by its text (HTML-escaped, on a solid banner); each hit shows
    its frames as a strip of ``thumb_size`` JPEG thumbnails inlined as ``data:`` URIs (a "no
    preview" box where it has none), its rank and score, and its path as a ``file://`` link
    (absolute, percent-encoded). The page loads nothing else and allows no scripts.

    Args:
        results (list[dict]): ``dict(query=str, hits=[...])`` per query, each hit
            ``dict(path=str, rank=int, score=float, frames=[HxWx3 uint8 RGB arrays])``.
        out_file (str): the HTML file to write, UTF-8 (folders are created).
        thumb_size (tuple[int, int]): (width, height) of a thumbnail. Defaults to (160, 120).

    Returns:
        str: ``out_file``.
    """
    thumb_w, thumb_h = _check_size(thumb_size, 'thumb_size')
    sections = []
    for q, result in enumerate(results):
        if not isinstance(result, dict) or 'query' not in result or 'hits' not in result:
            raise ValueError(f'results[{q}] must be dict(query=str, hits=[...]), got '
                             f'{type(result).__name__}')
        query = str(result['query'])
        hits = _check_hits(result['hits'], f'query {query!r}')
        items = []
        for path, rank, score, frames in hits:
            shown = html.escape(_printable(path))
            strip = ''.join(
                f'<img src="{_data_uri(_letterbox(frame, (thumb_w, thumb_h)))}" width="{thumb_w}"'
                f' height="{thumb_h}" alt="frame {j + 1} of {shown}">'
                for j, frame in enumerate(frames)) or '<div class="no-preview">no preview</div>'
            strip_w = max(len(frames), 1) * (thumb_w + 4) - 4
            items.append(
                f'<li class="hit" style="width: {strip_w}px"><div class="strip">{strip}</div>'
                f'<div class="meta"><span class="rank">#{rank}</span>'
                f'<span class="score">score {score:.4f}</span></div>'
                f'<a class="path" href="{html.escape(_file_uri(path))}">{shown}</a></li>')
        count = f'{len(hits)} hit{"s" if len(hits) != 1 else ""}'
        sections.append(f'<section class="query"><h2 class="query-text">{html.escape(query)}'
                        f'</h2><p class="count">{count}</p><ol class="hits">'
                        + '\n'.join(items) + '</ol></section>')
    style = _PAGE_STYLE.format(banner=', '.join(map(str, QUERY_BANNER_RGB)), w=thumb_w,
                               h=thumb_h)
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'img-src data:; style-src \'unsafe-inline\'">\n'
            f'<title>Search results ({len(sections)} queries)</title>\n<style>{style}</style>'
            f'</head>\n<body><h1>Search results</h1>\n' + '\n'.join(sections)
            + '\n</body></html>\n')
    out_file = os.fspath(out_file)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        f.write(page)
    return out_file
