"""Readers for the official annotation files of the retrieval datasets.

Every reader fails with a :class:`AnnotationFormatError` (a ``ValueError``) whose message starts
with ``<file>:<line>:`` (text formats) or ``<file>: <key>:`` (JSON / pickle) and states the
expected form, so that a broken row can be found and fixed without reading the parser.
"""
import csv
import io
import json
import os.path as osp

from mmdret.utils.safe_load import UnsafeFileError, load_data_pickle


class AnnotationFormatError(ValueError):
    """A malformed annotation file; ``where`` is a 1-based line number or a key path.

    The message reads ``<path>:<line>: expected <expected>, got <got>`` (``<path>: <key>:``
    for a key path), the value shown cut to 200 characters.

    Args:
        path (str): the annotation file.
        where (int | str): the 1-based line number, or the key path (e.g. ``'top level'``) of
            the malformed entry.
        expected (str): the expected form of the entry.
        got (Any, optional): the offending value, shown by its ``repr``. Defaults to None (not
            shown).
    """

    def __init__(self, path, where, expected, got=None):
        location = f'{path}:{where}' if isinstance(where, int) else f'{path}: {where}'
        message = f'{location}: expected {expected}'
        if got is not None:
            text = repr(got)
            message += f', got {text[:200]}{"..." if len(text) > 200 else ""}'
        super().__init__(message)
        self.path, self.where = path, where


def resolve_path(path, data_root, owner, what):
    """``path`` joined with ``data_root`` when relative; it must exist.

    Args:
        path (str): the file as configured.
        data_root (str): the dataset's ``data_root`` (may be empty).
        owner (str): who asks (the dataset class name), for the message.
        what (str): the argument name and the official file name, for the message.
    """
    if path is None:
        raise ValueError(f'{owner}: {what} is required')
    if data_root and not osp.isabs(path):
        path = osp.join(data_root, path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{owner}: {what} {path!r} does not exist')
    return path


def read_text(path, form):
    """The text of a UTF-8 file (a leading byte-order mark is dropped).

    Args:
        path (str): the file.
        form (str): the expected form of the file, for the message.

    Raises:
        AnnotationFormatError: at the line of the first byte that is not UTF-8.
    """
    with open(path, 'rb') as file:
        data = file.read()
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        line_start = data.rfind(b'\n', 0, error.start) + 1
        raise AnnotationFormatError(
            path, data.count(b'\n', 0, error.start) + 1,
            f'UTF-8 text ({form}); byte 0x{data[error.start]:02x} at column '
            f'{error.start - line_start + 1} is not UTF-8 (re-save the file as UTF-8)') from None


def text_lines(path, form):
    """(line number, line without its end) of a UTF-8 text file.

    Args:
        path (str): the file.
        form (str): the expected form of the file, for the message.

    Returns:
        Iterator[tuple[int, str]]: the 1-based line number and the line without its line
        end (LF or CRLF).

    Raises:
        AnnotationFormatError: if the file is not UTF-8.
    """
    return enumerate((line.rstrip('\r') for line in read_text(path, form).split('\n')), 1)


def check_caption(caption, path, where, form):
    """A caption must be a non-empty string; ``where`` is its line number or key path.

    Args:
        caption (Any): the value to check.
        path (str): the annotation file, for the message.
        where (int | str): the caption's 1-based line number or key path, for the message.
        form (str): the expected form of the file, for the message.

    Returns:
        str: ``caption``.

    Raises:
        AnnotationFormatError: if ``caption`` is not a string or is blank.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise AnnotationFormatError(path, where, f'a caption that is a non-empty string; form '
                                    f'{form}', caption)
    return caption


def read_id_list(path, form='one video id per line'):
    """Ids of a list file (``train_list.txt`` style); blank lines are ignored.

    Args:
        path (str): the list file.
        form (str): the expected form of the file, for the message. Defaults to
            ``'one video id per line'``.

    Returns:
        list[tuple[int, str]]: (line number, id) in file order. A repeated id is an error.

    Raises:
        AnnotationFormatError: on an id containing whitespace or a repeated id.
    """
    ids, seen = [], {}
    for line_num, line in text_lines(path, form):
        item = line.strip()
        if not item:
            continue
        if any(ch.isspace() for ch in item):
            raise AnnotationFormatError(path, line_num, form, line)
        if item in seen:
            raise AnnotationFormatError(
                path, line_num, f'{form} (each id once; {item!r} is also on line '
                f'{seen[item]})')
        seen[item] = line_num
        ids.append((line_num, item))
    return ids


def read_tsv(path, num_fields, form):
    """Rows of a tab-separated file without header; blank lines are ignored.

    Args:
        path (str): the file.
        num_fields (int): the number of fields every row must have.
        form (str): what the fields are, for the message (appended to
            ``'<num_fields> tab-separated fields'``).

    Yields:
        tuple[int, list[str]]: (line number, fields stripped of surrounding whitespace).

    Raises:
        AnnotationFormatError: on a row with another number of fields.
    """
    for line_num, line in text_lines(path, f'{num_fields} tab-separated fields {form}'):
        if not line.strip():
            continue
        fields = line.split('\t')
        if len(fields) != num_fields:
            raise AnnotationFormatError(
                path, line_num, f'{num_fields} tab-separated fields {form}, found '
                f'{len(fields)}', line)
        yield line_num, [field.strip() for field in fields]


def read_csv_rows(path, columns, form=None):
    """Rows of a comma-separated file with a header; ``columns`` must be present and non-empty.

    Args:
        path (str): the file.
        columns (Iterable[str]): the columns the header must name and every row must fill.
        form (str, optional): the expected form of the file, for the message. Defaults to None
            (``'a header with the columns [...]'``).

    Yields:
        tuple[int, dict]: (line number where the row ends, the row as a dict). A file with a
        header and no row is an error.

    Raises:
        AnnotationFormatError: on a missing column, an empty value in ``columns``, a row with
            more fields than the header, or no row at all.
    """
    form = form or f'a header with the columns {list(columns)}'
    reader = csv.DictReader(io.StringIO(read_text(path, form), newline=''))
    header = reader.fieldnames
    if header is None or not set(columns) <= set(header):
        raise AnnotationFormatError(path, 1, form, header)
    num_rows = 0
    for row in reader:
        empty = [column for column in columns if not (row.get(column) or '').strip()]
        if empty or None in row:
            problem = f'{empty} empty' if empty else 'more fields than the header'
            raise AnnotationFormatError(
                path, reader.line_num,
                f'a value in each of {list(columns)} ({problem}); form {form}',
                {key: value for key, value in row.items() if key in columns})
        num_rows += 1
        yield reader.line_num, row
    if not num_rows:
        raise AnnotationFormatError(path, 2, f'at least one row after the header; form {form}')


def load_json(path, expected_type, form):
    """Parse a JSON file whose top level must be ``expected_type`` (dict or list).

    Args:
        path (str): the JSON file.
        expected_type (type | tuple[type]): the type of the top level, e.g. ``dict``.
        form (str): the expected form of the file, for the message.

    Returns:
        dict | list: the parsed data.

    Raises:
        AnnotationFormatError: if the file is not valid JSON or its top level has another
            type.
    """
    try:
        data = json.loads(read_text(path, f'JSON, {form}'))
    except json.JSONDecodeError as error:
        raise AnnotationFormatError(path, error.lineno,
                                    f'valid JSON ({error.msg} at column {error.colno}); '
                                    f'form {form}') from error
    if not isinstance(data, expected_type):
        raise AnnotationFormatError(path, 'top level', form, type(data).__name__)
    return data


def load_pickle(path, expected_type, form):
    """Unpickle an annotation file whose top level must be ``expected_type``.

    Only builtin containers, strings and numbers are admitted: a pickle naming any class or
    function (which could run code while loading) is refused with
    :class:`~mmdret.utils.safe_load.UnsafeFileError` naming the file.

    Args:
        path (str): the pickle file.
        expected_type (type | tuple[type]): the type of the top level, e.g. ``dict``.
        form (str): the expected form of the file, for the message.

    Returns:
        Any: the unpickled data.

    Raises:
        AnnotationFormatError: if the file cannot be unpickled or its top level has another
            type.
    """
    try:
        data = load_data_pickle(path)
    except UnsafeFileError:
        raise
    except Exception as error:  # pickle raises many types on garbage
        raise AnnotationFormatError(path, 'top level', f'a pickle of {form}',
                                    f'{type(error).__name__}: {error}') from error
    if not isinstance(data, expected_type):
        raise AnnotationFormatError(path, 'top level', form, type(data).__name__)
    return data


def is_number(value):
    """Whether a value is an int or a float (a bool is not a number here).

    Args:
        value (Any): the value to test.

    Returns:
        bool: True for an ``int`` or ``float`` that is not a ``bool``.
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool)
