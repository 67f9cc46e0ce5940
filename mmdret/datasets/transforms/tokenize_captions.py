from functools import lru_cache

from mmcv.transforms import BaseTransform

from mmdret.registry import TRANSFORMS


@lru_cache(maxsize=None)
def clip_tokenizer(name):
    """The open_clip tokenizer of a model name, built once per process.

    Args:
        name (str): open_clip tokenizer (model) name.
    """
    import open_clip
    return open_clip.get_tokenizer(name)


def tokenize(texts, max_words=32, tokenizer='ViT-B-32'):
    """CLIP BPE ids (N, max_words) and mask: ``[SOT] tokens[:max_words-2] [EOT]``, zero padded.

    open_clip's tokenizer applies the official cleaning (ftfy, double html-unescape, whitespace
    collapse, lower-case) and puts EOT last when it truncates.

    Args:
        texts (Sequence[str]): captions.
        max_words (int): token length including SOT/EOT. Defaults to 32.
        tokenizer (str): open_clip tokenizer name. Defaults to ``'ViT-B-32'``.
    """
    tokens = clip_tokenizer(tokenizer)(list(texts), context_length=max_words)
    return tokens, (tokens > 0).long()


@TRANSFORMS.register_module()
class TokenizeCaptions(BaseTransform):
    """Tokenise ``texts`` (a list of captions) into ``text`` (N, L) ids and ``text_mask``.

    Items without ``texts`` are read the way mmaction2's ``VideoTextDataset`` writes them: one
    caption string (or a list of them) under ``text``, replaced by its ids as mmaction2's
    ``CLIPTokenize`` does.

    Args:
        max_words (int): token length including SOT/EOT. Defaults to 32 (official).
        tokenizer (str): open_clip tokenizer name. Defaults to ``'ViT-B-32'`` (CLIP BPE).
    """

    def __init__(self, max_words=32, tokenizer='ViT-B-32'):
        self.max_words = max_words
        self.tokenizer = tokenizer

    def transform(self, results):
        if 'texts' in results:
            texts = results['texts']
        elif 'text' in results:
            texts = [results['text']] if isinstance(results['text'], str) else results['text']
        else:
            raise KeyError(f'{type(self).__name__} needs the captions under "texts" (a list) or '
                           f'"text" (a string, as mmaction2 datasets write it); the item has '
                           f'{sorted(results)}')
        if not texts or any(not isinstance(text, str) for text in texts):
            raise ValueError(f'{results.get("video_id")}: expected a non-empty list of caption '
                             f'strings, got {texts!r}')
        results['text'], results['text_mask'] = tokenize(texts, self.max_words, self.tokenizer)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(max_words={self.max_words}, tokenizer={self.tokenizer!r})'
