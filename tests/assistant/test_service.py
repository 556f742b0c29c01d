"""Helpers of the service the web edges share."""

from __future__ import annotations

import pytest

from assistant.service import safe_filename


@pytest.mark.parametrize("name,expected", [("../../etc/passwd", "passwd"), ("Chỉ thị 05.docx", "Chỉ thị 05.docx"),
                                           ("a<b>.txt", "a_b_.txt"), ("..", "upload")])
def test_safe_upload_names(name, expected):
    assert safe_filename(name) == expected
