"""Vietnamese language helpers shared by indexing (``index/``) and answering (``assistant/``).

* :mod:`index.lang.normalize` — Unicode NFC and whitespace, the form every stored text is in;
* :mod:`index.lang.vietnamese` — tone-mark folding, equivalent date forms, abbreviations, word tokens;
* :mod:`index.lang.facts` — agencies and deadlines as written (exact spans);
* :mod:`index.lang.sentences` — sentences, list items and clause units as exact offsets;
* :mod:`index.lang.cues` — question words, answer cues, time words, negations, stop words.

Word lists are data files in ``index/lang/data/``, each with a note of its source.
"""
